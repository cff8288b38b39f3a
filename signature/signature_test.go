package signature

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
)

type vectors struct {
	Vectors []struct {
		Name, Secret, Body, Signature string
	}
}

// The golden vectors in testdata were computed with Python's hmac, not
// with this package.
func TestGoldenVectors(t *testing.T) {
	b, err := os.ReadFile("../testdata/signature_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, vec := range v.Vectors {
		if got := Sign(vec.Secret, []byte(vec.Body)); got != vec.Signature {
			t.Errorf("%s: Sign = %s, want %s", vec.Name, got, vec.Signature)
		}
		if !Verify(vec.Secret, []byte(vec.Body), vec.Signature) {
			t.Errorf("%s: Verify rejects the golden signature", vec.Name)
		}
		if Verify(vec.Secret+"x", []byte(vec.Body), vec.Signature) {
			t.Errorf("%s: Verify accepts a wrong secret", vec.Name)
		}
		if Verify(vec.Secret, []byte(vec.Body+" "), vec.Signature) {
			t.Errorf("%s: Verify accepts a changed body", vec.Name)
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	body := []byte(`{"event":"record.created"}`)
	good := http.Header{}
	good.Set(HeaderSignature, Sign("k", body))
	good.Set(HeaderSecret, "k")
	tests := []struct {
		name string
		edit func(h http.Header)
		want bool
	}{
		{"both headers right", func(http.Header) {}, true},
		{"signature only", func(h http.Header) { h.Del(HeaderSecret) }, true},
		{"wrong secret header", func(h http.Header) { h.Set(HeaderSecret, "other") }, false},
		{"missing signature", func(h http.Header) { h.Del(HeaderSignature) }, false},
		{"not hex", func(h http.Header) { h.Set(HeaderSignature, "zz") }, false},
	}
	for _, tt := range tests {
		h := good.Clone()
		tt.edit(h)
		if got := VerifyRequest("k", h, body); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
