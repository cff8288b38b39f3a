package codec

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
)

// The Web UI cannot send a bearer token: an engineer signs its browser in
// once with the codec token, and the UI's codec calls (credentials
// included) carry the cookie.
func TestSignInLetsTheWebUIDecode(t *testing.T) {
	keys, _ := ring(t, "k1")
	sealed, _ := Codec{Keys: keys}.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"hi"`)}})
	body, _ := json.Marshal(map[string]any{"payloads": []map[string]any{{"metadata": map[string]string{
		"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "azE="}, "data": sealed[0].GetData()}}})
	const ui = "http://localhost:8080"
	h := Handler(keys, Access{Origins: []string{ui}, Token: "s3cret-token", WebUI: ui})

	decode := func(cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", ui)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	signIn := func(token, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://localhost:8234/codec/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	if rec := decode(nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("decode before sign-in: got %d, want 401", rec.Code)
	}
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "http://localhost:8234/codec/signin", nil))
	if get.Code != http.StatusOK || !strings.Contains(get.Body.String(), `name="token"`) || get.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("sign-in page: got %d, X-Frame-Options %q, form %v; want 200, DENY and a token field", get.Code, get.Header().Get("X-Frame-Options"), strings.Contains(get.Body.String(), `name="token"`))
	}

	for _, tt := range []struct{ name, token, origin string }{
		{"wrong token", "guess", "http://localhost:8234"},
		{"empty token", "", "http://localhost:8234"},
		{"right token posted from another site's page", "s3cret-token", "https://evil.example"},
	} {
		rec := signIn(tt.token, tt.origin)
		if rec.Code == http.StatusOK || len(rec.Result().Cookies()) != 0 {
			t.Errorf("%s: got %d with cookies %v, want a refusal and no cookie", tt.name, rec.Code, rec.Result().Cookies())
		}
	}
	if rec := decode(&http.Cookie{Name: SessionCookie, Value: "guess"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("decode with a forged cookie: got %d, want 401", rec.Code)
	}

	rec := signIn("s3cret-token", "http://localhost:8234")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Signed in") || !strings.Contains(rec.Body.String(), `href="`+ui+`"`) {
		t.Fatalf("sign-in: got %d %s, want 200, Signed in and a link to the Web UI", rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("sign-in set %d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	if c.Name != SessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/codec/" || c.MaxAge <= 0 {
		t.Errorf("cookie %+v: want %s, HttpOnly, SameSite=Strict, Path=/codec/, a positive Max-Age", c, SessionCookie)
	}
	if c.Value == "s3cret-token" || strings.Contains(c.Value, "s3cret-token") {
		t.Errorf("the cookie carries the codec token itself (%q): a leaked cookie would be a bearer token", c.Value)
	}
	if rec := decode(&http.Cookie{Name: SessionCookie, Value: "s3cret-token"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("decode with the raw token as cookie: got %d, want 401 (only signed sessions)", rec.Code)
	}
	bearer := httptest.NewRequest(http.MethodPost, "/codec/decode", bytes.NewReader(body))
	bearer.Header.Set("Authorization", "Bearer "+c.Value)
	if rec := httptest.NewRecorder(); func() int { h.ServeHTTP(rec, bearer); return rec.Code }() != http.StatusUnauthorized {
		t.Errorf("the session cookie's value as a bearer token: got %d, want 401", rec.Code)
	}
	rotated := Handler(keys, Access{Origins: []string{ui}, Token: "a-new-token"})
	after := httptest.NewRequest(http.MethodPost, "/codec/decode", bytes.NewReader(body))
	after.AddCookie(c)
	if rec := httptest.NewRecorder(); func() int { rotated.ServeHTTP(rec, after); return rec.Code }() != http.StatusUnauthorized {
		t.Errorf("a session after the codec token was rotated: got %d, want 401", rec.Code)
	}
	got := decode(c)
	if got.Code != http.StatusOK || !strings.Contains(got.Body.String(), `"ImhpIg=="`) {
		t.Fatalf("decode with the sign-in cookie: got %d %s, want 200 and the plaintext payload", got.Code, got.Body)
	}
	if got.Header().Get("Access-Control-Allow-Credentials") != "true" || got.Header().Get("Access-Control-Allow-Origin") != ui {
		t.Errorf("CORS for the Web UI with credentials: got origin %q credentials %q", got.Header().Get("Access-Control-Allow-Origin"), got.Header().Get("Access-Control-Allow-Credentials"))
	}

	out := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "http://localhost:8234/codec/signout", nil)
	req.AddCookie(c)
	h.ServeHTTP(out, req)
	if oc := out.Result().Cookies(); len(oc) != 1 || oc[0].Name != SessionCookie || oc[0].MaxAge >= 0 {
		t.Errorf("sign-out: cookies %v, want %s removed", oc, SessionCookie)
	}
}

// In development (no token) the page says so and sets nothing.
func TestSignInPageInDevelopment(t *testing.T) {
	keys, _ := ring(t, "k1")
	h := Handler(keys, Access{Anonymous: true})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/codec/signin", strings.NewReader("token=x")))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "needs no token") || len(rec.Result().Cookies()) != 0 {
		t.Errorf("got %d, cookies %v; want 200, 'needs no token', no cookie", rec.Code, rec.Result().Cookies())
	}
}
