package signature

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
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

type stdVectors struct {
	Standard []struct {
		Name, Secret, ID, Body, Signature string
		Timestamp, Now                    int64
		Valid                             bool
	}
}

func TestStandardWebhooksVectors(t *testing.T) {
	b, err := os.ReadFile("../testdata/signature_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v stdVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Standard) < 5 {
		t.Fatalf("%d standard vectors", len(v.Standard))
	}
	for _, vec := range v.Standard {
		h := http.Header{}
		h.Set(HeaderStdID, vec.ID)
		h.Set(HeaderStdTimestamp, strconv.FormatInt(vec.Timestamp, 10))
		h.Set(HeaderStdSignature, vec.Signature)
		err := VerifyStandard(vec.Secret, h, []byte(vec.Body), DefaultTolerance, time.Unix(vec.Now, 0))
		if (err == nil) != vec.Valid {
			t.Errorf("%s: got %v, want valid=%v", vec.Name, err, vec.Valid)
		}
		if vec.Valid && !strings.Contains(vec.Signature, " ") {
			if got := SignStandard(vec.Secret, vec.ID, vec.Timestamp, []byte(vec.Body)); got != vec.Signature {
				t.Errorf("%s: SignStandard = %s, want %s", vec.Name, got, vec.Signature)
			}
		}
	}
}

func TestStandardHeadersRoundTrip(t *testing.T) {
	h := http.Header{}
	at := time.Unix(1774967400, 0)
	StandardHeaders(h, "evt:wh", at, []byte("{}"), "new-secret-1", "old-secret-1")
	for _, s := range []string{"new-secret-1", "old-secret-1"} {
		if err := VerifyStandard(s, h, []byte("{}"), DefaultTolerance, at.Add(time.Minute)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if err := VerifyStandard("new-secret-1", h, []byte("{}"), DefaultTolerance, at.Add(6*time.Minute)); !errors.Is(err, ErrTimestamp) {
		t.Errorf("six minutes later: got %v, want ErrTimestamp", err)
	}
	if err := VerifyStandard("other", h, []byte("{}"), DefaultTolerance, at); !errors.Is(err, ErrNoMatch) {
		t.Errorf("wrong secret: got %v, want ErrNoMatch", err)
	}
	h.Del(HeaderStdID)
	if err := VerifyStandard("new-secret-1", h, []byte("{}"), DefaultTolerance, at); !errors.Is(err, ErrMissingHeaders) {
		t.Errorf("no id: got %v", err)
	}
}

// A receiver imports this package without the Temporal SDK.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(strings.Split(dep, "/")[0], ".") && dep != "github.com/hari-crm/webhooks/signature" {
			t.Errorf("signature depends on %s", dep)
		}
	}
}
