package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	// Plain payloads (a client without the codec, which holds no key) are
	// refused with the reason; only the codec endpoint (PassPlain) shows
	// them as they are.
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	var s string
	if err := DataConverter(old).FromPayload(plain, &s); !errors.Is(err, ErrPlainPayload) || s != "" {
		t.Errorf("plain payload: got %q, %v; want nothing decoded and ErrPlainPayload", s, err)
	}
	if err := DataConverter(old).FromPayload(plain, &s); err == nil || !strings.Contains(err.Error(), "payload is not encrypted with the HARi codec; start workflows through a client with the codec") {
		t.Errorf("plain payload error: got %v, want the reason and the fix", err)
	}
	if out, err := (Codec{Keys: old, PassPlain: true}).Decode([]*commonpb.Payload{plain}); err != nil || string(out[0].GetData()) != `"hello"` {
		t.Errorf("PassPlain: got %v, %v; want the plain payload unchanged", out, err)
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
	h := Handler(keys, Access{Origins: []string{"http://localhost:8233"}, Token: "tok"})

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
	for _, auth := range []string{"", "Bearer wrong", "Basic tok", "tok"} {
		if rec := post(auth); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "ImhpIg==") {
			t.Errorf("Authorization %q: got %d %s, want 401 and nothing decoded", auth, rec.Code, rec.Body)
		}
	}
	if rec := post("bearer tok"); rec.Code != http.StatusOK {
		t.Errorf("scheme in lower case: got %d, want 200", rec.Code)
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

// Outside development the endpoint needs a token: with none configured,
// every call is refused rather than served to anyone.
func TestHandlerWithoutTokenRefusesUnlessAnonymous(t *testing.T) {
	keys, _ := ring(t, "k1")
	call := func(h http.Handler) int {
		req := httptest.NewRequest(http.MethodPost, "/codec/encode", strings.NewReader(`{"payloads":[]}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := call(Handler(keys, Access{})); got != http.StatusUnauthorized {
		t.Errorf("no token configured: got %d, want 401", got)
	}
	if got := call(Handler(keys, Access{Anonymous: true})); got != http.StatusOK {
		t.Errorf("anonymous (development): got %d, want 200", got)
	}
}

// A wildcard origin is never answered together with credentials.
func TestWildcardOriginDropsCredentials(t *testing.T) {
	keys, _ := ring(t, "k1")
	for _, tt := range []struct {
		origins          []string
		origin, wantACAO string
		wantCreds        string
	}{
		{[]string{"*"}, "https://evil.example", "*", ""},
		{[]string{"http://localhost:8233", "*"}, "http://localhost:8233", "http://localhost:8233", "true"},
		{[]string{"http://localhost:8233"}, "https://evil.example", "", ""},
	} {
		h := Handler(keys, Access{Origins: tt.origins, Token: "tok"})
		for _, method := range []string{http.MethodOptions, http.MethodPost} {
			req := httptest.NewRequest(method, "/codec/decode", strings.NewReader(`{"payloads":[]}`))
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Authorization", "Bearer tok")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			acao, creds := rec.Header().Get("Access-Control-Allow-Origin"), rec.Header().Get("Access-Control-Allow-Credentials")
			if acao != tt.wantACAO || creds != tt.wantCreds {
				t.Errorf("origins %v, %s from %s: got ACAO %q credentials %q, want %q %q", tt.origins, method, tt.origin, acao, creds, tt.wantACAO, tt.wantCreds)
			}
			if acao == "*" && creds != "" {
				t.Errorf("origins %v: a wildcard origin with credentials", tt.origins)
			}
		}
	}
}

// sealV1 makes a seal in the old format, as the code before v2 did.
func sealV1(t *testing.T, r *Keyring, secret string) string {
	t.Helper()
	aead := r.keys[r.active]
	nonce := make([]byte, aead.NonceSize())
	ct := aead.Seal(nonce, nonce, []byte(secret), legacyAAD)
	return LegacySealPrefix + r.active + ":" + base64.RawURLEncoding.EncodeToString(ct)
}

const hookURL = "https://hooks.example.com/x"

// sealV2 makes a seal in format v2 (bound to workspace and webhook, not
// URL), as the code before v3 did.
func sealV2(t *testing.T, r *Keyring, secret, ws, id string) string {
	t.Helper()
	aead := r.keys[r.active]
	nonce := make([]byte, aead.NonceSize())
	ct := aead.Seal(nonce, nonce, []byte(secret), sealV2AAD(ws, id))
	return SealV2Prefix + r.active + ":" + base64.RawURLEncoding.EncodeToString(ct)
}

// A v3 seal opens only for the workspace, webhook and URL it was sealed
// for, with any key of the ring that has its key id and key.
func TestSealIsBoundToWorkspaceWebhookAndURL(t *testing.T) {
	keys, specs := ring(t, "k1")
	sealed, err := keys.Seal("whsec_top", "acme", "wh_1", hookURL)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "whsec_top") || !strings.HasPrefix(sealed, "sealed:v3:k1:") {
		t.Fatalf("sealed form %q, want sealed:v3:k1:...", sealed)
	}
	if got, err := keys.Open(sealed, "acme", "wh_1", hookURL); err != nil || got != "whsec_top" {
		t.Fatalf("open: got %q, %v; want whsec_top", got, err)
	}
	for _, tt := range []struct{ ws, id, url string }{
		{"evil", "wh_1", hookURL}, {"acme", "wh_2", hookURL}, {"acme", "", hookURL}, {"", "wh_1", hookURL},
		{"acme", "wh_1", "https://evil.example/steal"}, {"acme", "wh_1", hookURL + "/"}, {"acme", "wh_1", ""},
		{"acme|4:wh_1", "", hookURL}, {"acm", "e|wh_1", hookURL}, {"acme", "wh_1|" + hookURL, ""}, // no ambiguity in the bound names
	} {
		if got, err := keys.Open(sealed, tt.ws, tt.id, tt.url); err == nil {
			t.Errorf("open for (%q, %q, %q): got %q, want an error", tt.ws, tt.id, tt.url, got)
		}
	}
	newSpec, _ := NewKeySpec("k2")
	rotated, _ := ParseKeys(newSpec + "," + specs[0])
	if got, err := rotated.Open(sealed, "acme", "wh_1", hookURL); err != nil || got != "whsec_top" {
		t.Errorf("open after rotation: got %q, %v; want whsec_top", got, err)
	}
	other, _ := ring(t, "k1")
	if _, err := other.Open(sealed, "acme", "wh_1", hookURL); err == nil {
		t.Error("a different key with the same id opened the secret")
	}
	if _, err := keys.Open(sealed[:len(sealed)-2], "acme", "wh_1", hookURL); err == nil {
		t.Error("a truncated sealed secret opened")
	}
	for _, tt := range []struct{ ws, id, url string }{{"", "wh_1", hookURL}, {"acme", "", hookURL}, {"acme", "wh_1", ""}} {
		if _, err := keys.Seal("x", tt.ws, tt.id, tt.url); err == nil {
			t.Errorf("sealed without all of (%q, %q, %q)", tt.ws, tt.id, tt.url)
		}
	}
}

// v1 and v2 seals never open through Open (the delivery path); Reseal
// opens them and upgrades them to v3 bound to the webhook's URL.
func TestLegacySealsOpenOnlyThroughReseal(t *testing.T) {
	keys, specs := ring(t, "k1")
	v1 := sealV1(t, keys, "whsec_old")
	v2 := sealV2(t, keys, "whsec_v2", "acme", "wh_1")
	for name, s := range map[string]string{"v1": v1, "v2": v2} {
		if _, err := keys.Open(s, "acme", "wh_1", hookURL); !errors.Is(err, ErrLegacySeal) {
			t.Errorf("Open(%s): got %v, want ErrLegacySeal", name, err)
		}
	}
	if got, err := keys.OpenLegacy(v1); err != nil || got != "whsec_old" {
		t.Errorf("OpenLegacy: got %q, %v; want whsec_old", got, err)
	}
	v3, _ := keys.Seal("whsec_new", "acme", "wh_1", hookURL)
	if _, err := keys.OpenLegacy(v3); err == nil {
		t.Error("OpenLegacy opened a v3 seal")
	}
	if !keys.NeedsReseal(v1) || !keys.NeedsReseal(v2) || keys.NeedsReseal(v3) || keys.NeedsReseal("") {
		t.Errorf("NeedsReseal: v1 %v, v2 %v, v3 %v, empty %v; want true, true, false, false", keys.NeedsReseal(v1), keys.NeedsReseal(v2), keys.NeedsReseal(v3), keys.NeedsReseal(""))
	}
	for _, tt := range []struct{ name, sealed, want string }{{"v1", v1, "whsec_old"}, {"v2", v2, "whsec_v2"}} {
		up, changed, err := keys.Reseal(tt.sealed, "acme", "wh_1", hookURL)
		if err != nil || !changed || !strings.HasPrefix(up, "sealed:v3:k1:") {
			t.Fatalf("Reseal(%s): got %q, %v, %v; want a v3 seal", tt.name, up, changed, err)
		}
		if got, err := keys.Open(up, "acme", "wh_1", hookURL); err != nil || got != tt.want {
			t.Errorf("open the upgraded %s seal: got %q, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	if _, _, err := keys.Reseal(v2, "evil", "wh_1", hookURL); err == nil {
		t.Error("Reseal re-bound a v2 seal to another workspace")
	}
	if same, changed, err := keys.Reseal(v3, "acme", "wh_1", hookURL); err != nil || changed || same != v3 {
		t.Errorf("Reseal of a current seal: got %q, %v, %v; want it unchanged", same, changed, err)
	}

	// Rotation: with k2 first, Reseal moves a k1 seal to k2; a ring with
	// k2 alone then opens it.
	newSpec, _ := NewKeySpec("k2")
	rotated, _ := ParseKeys(newSpec + "," + specs[0])
	onlyNew, _ := ParseKeys(newSpec)
	if !rotated.NeedsReseal(v3) {
		t.Error("a k1 seal does not need a reseal once k2 is active")
	}
	moved, changed, err := rotated.Reseal(v3, "acme", "wh_1", hookURL)
	if err != nil || !changed || !strings.HasPrefix(moved, "sealed:v3:k2:") {
		t.Fatalf("Reseal after rotation: got %q, %v, %v; want a k2 seal", moved, changed, err)
	}
	if got, err := onlyNew.Open(moved, "acme", "wh_1", hookURL); err != nil || got != "whsec_new" {
		t.Errorf("open with k2 alone: got %q, %v; want whsec_new", got, err)
	}
	if _, _, err := rotated.Reseal(v3, "evil", "wh_1", hookURL); err == nil {
		t.Error("Reseal re-bound a seal to another workspace")
	}
	if _, _, err := rotated.Reseal(v3, "acme", "wh_1", "https://evil.example/x"); err == nil {
		t.Error("Reseal re-bound a seal to another URL")
	}
}

func TestLoadKeyFileRefusesLoosePermissions(t *testing.T) {
	spec, _ := NewKeySpec("k1")
	dir := t.TempDir()
	for _, tt := range []struct {
		mode    os.FileMode
		wantErr bool
	}{{0o600, false}, {0o400, false}, {0o640, true}, {0o604, true}, {0o644, true}, {0o620, true}} {
		path := filepath.Join(dir, fmt.Sprintf("keys-%o", tt.mode))
		if err := os.WriteFile(path, []byte(spec+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		t.Setenv("HARI_CODEC_KEYS", "")
		t.Setenv("HARI_CODEC_KEYS_FILE", path)
		keys, err := LoadKeys()
		switch {
		case tt.wantErr && err == nil:
			t.Errorf("mode %04o: got a key ring, want an error", tt.mode)
		case tt.wantErr && !(strings.Contains(err.Error(), path) && strings.Contains(err.Error(), fmt.Sprintf("%04o", tt.mode)) && strings.Contains(err.Error(), "chmod 600")):
			t.Errorf("mode %04o: got %q, want the file, its mode and chmod 600", tt.mode, err)
		case !tt.wantErr && (err != nil || keys.ActiveKeyID() != "k1"):
			t.Errorf("mode %04o: got %v, want key k1", tt.mode, err)
		}
	}
}

// BenchmarkSealOpen measures sealing a secret for its webhook and opening
// it as the worker does before every signed attempt.
func BenchmarkSealOpen(b *testing.B) {
	spec, _ := NewKeySpec("k1")
	keys, _ := ParseKeys(spec)
	for b.Loop() {
		s, err := keys.Seal("whsec_benchmark_secret_value", "acme", "wh_0123456789abcdef", hookURL)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := keys.Open(s, "acme", "wh_0123456789abcdef", hookURL); err != nil {
			b.Fatal(err)
		}
	}
}
