package token

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	key1 = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	key2 = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("q", 40)))
)

func mustKeys(t *testing.T, spec string) *Keys {
	t.Helper()
	k, err := ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign builds a token by hand, for the forms Mint never makes.
func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWorkspaceAndServiceTokens(t *testing.T) {
	k := mustKeys(t, "a:"+key1)
	ws, err := k.MintWorkspace("acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Verify(ws)
	if err != nil {
		t.Fatalf("workspace token: %v", err)
	}
	if !c.Allows("acme") || c.Allows("globex") || c.Allows("") {
		t.Errorf("workspace token of acme: allows acme %v, globex %v, empty %v; want true, false, false", c.Allows("acme"), c.Allows("globex"), c.Allows(""))
	}
	svc, err := k.MintService(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err = k.Verify(svc)
	if err != nil {
		t.Fatalf("service token: %v", err)
	}
	if !c.Allows("acme") || !c.Allows("globex") {
		t.Errorf("service token: got allows acme %v, globex %v, want both", c.Allows("acme"), c.Allows("globex"))
	}
	if _, err := k.MintWorkspace("a:b", time.Hour); err == nil {
		t.Error("minted a token for workspace a:b, want the workspace refused")
	}
	if _, err := k.MintService(0); err == nil {
		t.Error("minted a token with ttl 0, want it refused")
	}
}

func TestRefusedTokens(t *testing.T) {
	k := mustKeys(t, "a:"+key1)
	raw1, _ := base64.StdEncoding.DecodeString(key1)
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	good := jwt.MapClaims{"workspace": "acme", "aud": Audience, "exp": exp, "iat": now.Unix()}
	with := func(kv ...any) jwt.MapClaims {
		m := jwt.MapClaims{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	valid := sign(t, jwt.SigningMethodHS256, "a", raw1, good)
	if _, err := k.Verify(valid); err != nil {
		t.Fatalf("the hand-made valid token: %v", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	tests := []struct {
		name, token, want string
	}{
		{"expired", sign(t, jwt.SigningMethodHS256, "a", raw1, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"no exp", sign(t, jwt.SigningMethodHS256, "a", raw1, with("exp", nil)), "exp"},
		{"alg none", none, "signing method"},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, "a", raw1, good), "signing method"},
		{"unknown kid", sign(t, jwt.SigningMethodHS256, "b", raw1, good), "unknown key id"},
		{"no kid", sign(t, jwt.SigningMethodHS256, "", raw1, good), "unknown key id"},
		{"wrong key", sign(t, jwt.SigningMethodHS256, "a", []byte(strings.Repeat("x", 32)), good), "signature"},
		{"tampered payload", tamper(valid), "signature"},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, "a", raw1, with("aud", "other")), "aud"},
		{"no audience", sign(t, jwt.SigningMethodHS256, "a", raw1, with("aud", nil)), "aud"},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, "a", raw1, with("iat", now.Add(time.Hour).Unix())), "before issued"},
		{"workspace and service", sign(t, jwt.SigningMethodHS256, "a", raw1, with("scope", ScopeService)), "either"},
		{"neither", sign(t, jwt.SigningMethodHS256, "a", raw1, with("workspace", nil)), "either"},
		{"unknown scope", sign(t, jwt.SigningMethodHS256, "a", raw1, with("workspace", nil, "scope", "admin")), "either"},
		{"workspace with a colon", sign(t, jwt.SigningMethodHS256, "a", raw1, with("workspace", "a:b")), "workspace"},
		{"not a JWT", "hello", "malformed"},
		// Issue 11 review, finding 5: a lifetime is required and bounded.
		{"no iat", sign(t, jwt.SigningMethodHS256, "a", raw1, with("iat", nil)), "claim iat (issued at) is required"},
		{"100-year workspace token", sign(t, jwt.SigningMethodHS256, "a", raw1, with("exp", now.Add(100*365*24*time.Hour).Unix())), "longer than the 24h0m0s a workspace token may"},
		{"25-hour workspace token", sign(t, jwt.SigningMethodHS256, "a", raw1, with("exp", now.Add(25*time.Hour).Unix())), "longer than the 24h0m0s a workspace token may"},
		{"31-day service token", sign(t, jwt.SigningMethodHS256, "a", raw1, with("workspace", nil, "scope", ScopeService, "exp", now.Add(31*24*time.Hour).Unix())), "longer than the 720h0m0s a service token may"},
	}
	for _, tt := range tests {
		_, err := k.Verify(tt.token)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want ErrInvalid mentioning %q", tt.name, err, tt.want)
		}
	}
}

// Issue 11 review, finding 5: Mint refuses a lifetime above the maximum
// of its kind (workspace 24 h, service 30 days by default; configurable),
// and Verify holds every token to the same bound.
func TestTokenLifetimeIsBounded(t *testing.T) {
	k := mustKeys(t, "a:"+key1)
	if _, err := k.MintWorkspace("acme", 100*365*24*time.Hour); err == nil || !strings.Contains(err.Error(), "ttl: 876000h0m0s is longer than the 24h0m0s a workspace token may live") {
		t.Errorf("100-year workspace token: got %v, want refused naming the 24 h maximum", err)
	}
	if _, err := k.MintService(31 * 24 * time.Hour); err == nil || !strings.Contains(err.Error(), "720h0m0s a service token") {
		t.Errorf("31-day service token: got %v, want refused naming the 30-day maximum", err)
	}
	for _, tt := range []struct {
		name string
		mint func() (string, error)
	}{
		{"24 h workspace token", func() (string, error) { return k.MintWorkspace("acme", 24*time.Hour) }},
		{"30-day service token", func() (string, error) { return k.MintService(30 * 24 * time.Hour) }},
	} {
		tok, err := tt.mint()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := k.Verify(tok); err != nil {
			t.Errorf("%s: got %v, want valid", tt.name, err)
		}
	}
	// Configured down to 1 h: a 2 h token minted under the default no
	// longer verifies, and no longer mints.
	long, _ := k.MintWorkspace("acme", 2*time.Hour)
	k.SetMaxLifetimes(time.Hour, 0)
	if _, err := k.Verify(long); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "longer than the 1h0m0s") {
		t.Errorf("2 h token with a 1 h maximum: got %v, want refused", err)
	}
	if _, err := k.MintWorkspace("acme", 2*time.Hour); err == nil {
		t.Error("minted a 2 h token with a 1 h maximum")
	}
	t.Setenv("HARI_API_KEYS", "a:"+key1)
	t.Setenv("HARI_TOKEN_MAX_TTL_WORKSPACE", "2h")
	t.Setenv("HARI_TOKEN_MAX_TTL_SERVICE", "bogus")
	if _, err := LoadKeys(); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "HARI_TOKEN_MAX_TTL_SERVICE") {
		t.Errorf("a bad HARI_TOKEN_MAX_TTL_SERVICE: got %v, want an error naming it", err)
	}
	t.Setenv("HARI_TOKEN_MAX_TTL_SERVICE", "")
	loaded, err := LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.MintWorkspace("acme", 2*time.Hour); err != nil {
		t.Errorf("2 h token with HARI_TOKEN_MAX_TTL_WORKSPACE=2h: got %v, want minted", err)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"acme"`, `"evil"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestKeyRotation(t *testing.T) {
	old := mustKeys(t, "old:"+key1)
	tok, err := old.MintWorkspace("acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustKeys(t, "new:"+key2+",old:"+key1)
	if _, err := rotated.Verify(tok); err != nil {
		t.Errorf("a token of the old key during rotation: got %v, want it accepted", err)
	}
	fresh, _ := rotated.MintWorkspace("acme", time.Hour)
	if h, _, _ := jwt.NewParser().ParseUnverified(fresh, &Claims{}); h.Header["kid"] != "new" {
		t.Errorf("new tokens signed with kid %v, want new", h.Header["kid"])
	}
	retired := mustKeys(t, "new:"+key2)
	if _, err := retired.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token of a retired key: got %v, want ErrInvalid", err)
	}
}

func TestParseKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	for _, tt := range []struct{ spec, want string }{
		{"", "not kid:base64key"},
		{"a", "not kid:base64key"},
		{"a:!!", "not base64"},
		{"a:" + short, "5 bytes, want at least 32"},
		{"a:" + key1 + ",a:" + key2, "appears twice"},
	} {
		if _, err := ParseKeys(tt.spec); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseKeys(%q): got %v, want %q", tt.spec, err, tt.want)
		}
	}
}

func TestLoadKeysRefusesAFileOthersCanRead(t *testing.T) {
	t.Setenv("HARI_API_KEYS", "")
	path := filepath.Join(t.TempDir(), "api.keys")
	if err := os.WriteFile(path, []byte("a:"+key1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HARI_API_KEYS_FILE", path)
	if _, err := LoadKeys(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("mode 0644: got %v, want a refusal asking for chmod 600", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeys()
	if err != nil || k == nil || k.ActiveKeyID() != "a" {
		t.Errorf("mode 0600: got %v, %v; want key a", k, err)
	}
	t.Setenv("HARI_API_KEYS_FILE", "")
	if k, err := LoadKeys(); k != nil || err != nil {
		t.Errorf("nothing set: got %v, %v; want nil, nil", k, err)
	}
}

func TestFromHeader(t *testing.T) {
	for _, tt := range []struct {
		h, tok string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	} {
		if tok, ok := FromHeader(tt.h); tok != tt.tok || ok != tt.ok {
			t.Errorf("FromHeader(%q): got %q %v, want %q %v", tt.h, tok, ok, tt.tok, tt.ok)
		}
	}
}

// BenchmarkVerify is the cost the API adds to every request.
func BenchmarkVerify(b *testing.B) {
	k, err := ParseKeys("a:" + key1)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := k.MintWorkspace("acme", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
