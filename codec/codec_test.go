package codec

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func ring(t *testing.T, ids ...string) (*Keyring, []string) {
	t.Helper()
	var specs []string
	for _, id := range ids {
		s, err := NewKeySpec(id)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, s)
	}
	r, err := ParseKeys(strings.Join(specs, ","))
	if err != nil {
		t.Fatal(err)
	}
	return r, specs
}

func TestRoundTripAndRotation(t *testing.T) {
	old, oldSpecs := ring(t, "k1")
	dcOld := DataConverter(old)
	p, err := dcOld.ToPayload(map[string]string{"secret": "whsec_plain"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("whsec_plain")) {
		t.Fatal("payload data holds the plaintext")
	}
	if got := string(p.GetMetadata()[MetadataEncryptionKey]); got != "k1" {
		t.Errorf("key id %q, want k1", got)
	}

	// Rotation: k2 is active, k1 still opens old payloads.
	newSpec, _ := NewKeySpec("k2")
	rotated, err := ParseKeys(newSpec + "," + oldSpecs[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := DataConverter(rotated).FromPayload(p, &got); err != nil || got["secret"] != "whsec_plain" {
		t.Fatalf("decode old payload after rotation: %v %v", got, err)
	}
	p2, _ := DataConverter(rotated).ToPayload("x")
	if string(p2.GetMetadata()[MetadataEncryptionKey]) != "k2" {
		t.Error("new payloads are not sealed with the active key")
	}

	// A ring without the key refuses, and says which key is missing.
	other, _ := ring(t, "k3")
	if err := DataConverter(other).FromPayload(p, &got); err == nil || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("got %v, want an unknown key id error", err)
	}

	// Plain payloads (a client without the codec) still read.
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	var s string
	if err := DataConverter(old).FromPayload(plain, &s); err != nil || s != "hello" {
		t.Errorf("plain payload: %q %v", s, err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                             "not id:base64key",
		"k1":                           "not id:base64key",
		"k1:!!!":                       "not base64",
		"k1:c2hvcnQ=":                  "want 32",
		"k1:" + key32 + ",k1:" + key32: "appears twice",
	} {
		if _, err := ParseKeys(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeys(%q): got %v, want %q", spec, err, want)
		}
	}
}

const key32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestHandler(t *testing.T) {
	keys, _ := ring(t, "k1")
	sealed, _ := Codec{Keys: keys}.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"hi"`)}})
	body, _ := json.Marshal(map[string]any{"payloads": []map[string]any{{"metadata": map[string]string{
		"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "azE="}, "data": sealed[0].GetData()}}})
	h := Handler(keys, []string{"http://localhost:8233"}, "tok")

	post := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://localhost:8233")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(""); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: got %d, want 401", rec.Code)
	}
	rec := post("Bearer tok")
	if rec.Code != http.StatusOK {
		t.Fatalf("decode: got %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"ImhpIg=="`) { // base64 of "hi" with quotes
		t.Errorf("decoded body %s does not hold the plaintext payload", rec.Body)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:8233" {
		t.Errorf("CORS origin %q", got)
	}
	pre := httptest.NewRequest(http.MethodOptions, "/codec/decode", nil)
	pre.Header.Set("Origin", "http://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an unknown origin")
	}
}

func TestSealOpen(t *testing.T) {
	keys, specs := ring(t, "k1")
	sealed, err := keys.Seal("whsec_top")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "whsec_top") || !strings.HasPrefix(sealed, "sealed:v1:k1:") {
		t.Fatalf("sealed form %q", sealed)
	}
	newSpec, _ := NewKeySpec("k2")
	rotated, _ := ParseKeys(newSpec + "," + specs[0])
	if got, err := rotated.Open(sealed); err != nil || got != "whsec_top" {
		t.Errorf("open after rotation: %q %v", got, err)
	}
	other, _ := ring(t, "k1")
	if _, err := other.Open(sealed); err == nil {
		t.Error("a different key with the same id opened the secret")
	}
	if _, err := keys.Open(sealed[:len(sealed)-2]); err == nil {
		t.Error("a truncated sealed secret opened")
	}
}
