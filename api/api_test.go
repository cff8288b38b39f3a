package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hari-crm/webhooks/api/token"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// fakeRegistry validates like the real client and stores nothing: enough
// to exercise the HTTP layer (the real registry is tested in integration).
// Every call is noted in calls, when set.
type fakeRegistry struct {
	boom  bool
	calls *[]string
}

func (f fakeRegistry) note(op, ws string) {
	if f.calls != nil {
		*f.calls = append(*f.calls, op+" "+ws)
	}
}

func (f fakeRegistry) Create(_ context.Context, ws string, spec webhook.Spec) (webhook.View, error) {
	f.note("Create", ws)
	if err := registry.ValidateWorkspace(ws); err != nil {
		return webhook.View{}, err
	}
	if err := spec.Config.Validate(); err != nil {
		return webhook.View{}, err
	}
	if f.boom {
		return webhook.View{}, errors.New("temporal unavailable")
	}
	return webhook.View{ID: "wh_1", Name: spec.Name}, nil
}
func (f fakeRegistry) Update(ctx context.Context, ws, id string, spec webhook.Spec) (webhook.View, error) {
	f.note("Update", ws)
	if id != "wh_1" {
		return webhook.View{}, registry.ErrNotFound
	}
	return fakeRegistry{}.Create(ctx, ws, spec)
}
func (f fakeRegistry) SetActive(_ context.Context, ws, _ string, _ bool) (webhook.View, error) {
	f.note("SetActive", ws)
	return webhook.View{}, registry.ErrNotFound
}
func (f fakeRegistry) Delete(_ context.Context, ws, _ string) error {
	f.note("Delete", ws)
	return registry.ErrNotFound
}
func (f fakeRegistry) List(_ context.Context, ws string) ([]webhook.View, error) {
	f.note("List", ws)
	return []webhook.View{}, registry.ValidateWorkspace(ws)
}
func (f fakeRegistry) Get(_ context.Context, ws, _ string) (webhook.View, error) {
	f.note("Get", ws)
	return webhook.View{}, registry.ErrNotFound
}
func (f fakeRegistry) TestFire(_ context.Context, ws, _ string) (workflows.TestResult, error) {
	f.note("TestFire", ws)
	return workflows.TestResult{}, registry.ErrNotFound
}
func (f fakeRegistry) TestResult(_ context.Context, ws, _ string) (*workflows.TestResult, error) {
	f.note("TestResult", ws)
	return nil, registry.ErrNotFound
}
func (f fakeRegistry) DismissTest(_ context.Context, ws, _ string) error {
	f.note("DismissTest", ws)
	return registry.ErrNotFound
}

type fakePublisher struct{ calls *[]string }

func (f fakePublisher) note(op, ws string) {
	if f.calls != nil {
		*f.calls = append(*f.calls, op+" "+ws)
	}
}

func (f fakePublisher) Publish(_ context.Context, in workflows.EventInput) (publisher.Receipt, error) {
	f.note("Publish", in.Event.Workspace)
	if err := publisher.Validate(&in); err != nil {
		return publisher.Receipt{}, err
	}
	return publisher.Receipt{EventID: in.Event.ID, NoMatch: len(in.Targets) == 0}, nil
}
func (f fakePublisher) Show(_ context.Context, ws, id string) (publisher.Outcome, error) {
	f.note("Show", ws)
	if err := (event.Event{ID: id}).ValidateID(); err != nil {
		return publisher.Outcome{}, err
	}
	return publisher.Outcome{}, publisher.ErrNotFound
}
func (f fakePublisher) Redeliver(_ context.Context, ws, _, _ string, _ publisher.RedeliverOptions) (publisher.Redelivery, error) {
	f.note("Redeliver", ws)
	return publisher.Redelivery{}, nil
}

func (f fakePublisher) StartRecovery(_ context.Context, ws, _ string, _ time.Time) (publisher.RecoveryJob, error) {
	f.note("StartRecovery", ws)
	return publisher.RecoveryJob{}, nil
}

func (f fakePublisher) Recovery(_ context.Context, ws, _, _ string) (publisher.Recovery, error) {
	f.note("Recovery", ws)
	return publisher.Recovery{}, publisher.ErrNotFound
}

func (f fakePublisher) CancelRecovery(_ context.Context, ws, _, _ string) error {
	f.note("CancelRecovery", ws)
	return publisher.ErrNotFound
}

func (f fakePublisher) Health(_ context.Context, ws, _ string) (publisher.Health, error) {
	f.note("Health", ws)
	return publisher.Health{}, nil
}

func (f fakePublisher) NotSent(_ context.Context, ws, _ string, _ time.Time) (int, error) {
	f.note("NotSent", ws)
	return 0, nil
}

func (f fakePublisher) DeliveriesPage(_ context.Context, ws, _ string, _ publisher.LogQuery) (publisher.LogPage, error) {
	f.note("Deliveries", ws)
	return publisher.LogPage{}, nil
}

// testKeys signs the tests' tokens.
var testKeys = func() *token.Keys {
	k, err := token.ParseKeys("t1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))))
	if err != nil {
		panic(err)
	}
	return k
}()

func mint(t testing.TB, ws string) string {
	t.Helper()
	var tok string
	var err error
	if ws == "" {
		tok, err = testKeys.MintService(time.Hour)
	} else {
		tok, err = testKeys.MintWorkspace(ws, time.Hour)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func serve(t testing.TB, s *Server, method, path, body string) (int, map[string]map[string]string) {
	t.Helper()
	return serveAs(t, s, "Bearer "+mint(t, ""), method, path, body)
}

// serveAs sends a request with the given Authorization header (none when
// empty) and decodes the answer.
func serveAs(t testing.TB, s *Server, auth, method, path, body string) (int, map[string]map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	s.Handler().ServeHTTP(rec, req)
	var out map[string]map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return rec.Code, out
}

func TestErrorsHaveOneShapeAndStatus(t *testing.T) {
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}, Tokens: testKeys}
	hook := `{"name":"A","entity":"contact","events":["record.created"],"url":"https://h.example/x"}`
	tests := []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"POST", "/api/v1/workspaces/acme/webhooks", `{`, 400, "invalid_json", "json"},
		{"POST", "/api/v1/workspaces/acme/webhooks", `[]`, 400, "invalid_json", "json"},
		{"POST", "/api/v1/workspaces/acme/webhooks", strings.Replace(hook, "https", "http", 1), 400, "invalid", "url"},
		{"POST", "/api/v1/workspaces/acme/webhooks", strings.Replace(hook, `"name"`, `"nmae"`, 1), 400, "invalid", "nmae"},
		{"POST", "/api/v1/workspaces/acme/webhooks", strings.Replace(hook, `"contact"`, `7`, 1), 400, "invalid_json", "entity"},
		{"POST", "/api/v1/workspaces/a'b/webhooks", hook, 400, "invalid", "workspace"},
		{"POST", "/api/v1/workspaces/acme/webhooks", `{"name":"` + strings.Repeat("x", 300<<10) + `"}`, 413, "too_large", ""},
		{"GET", "/api/v1/workspaces/acme/webhooks/nope", "", 404, "not_found", ""},
		{"PUT", "/api/v1/workspaces/acme/webhooks/nope", hook, 404, "not_found", ""},
		{"GET", "/api/v1/workspaces/acme/webhooks/x/deliveries?limit=0", "", 400, "invalid", "limit"},
		{"GET", "/api/v1/nothing", "", 404, "not_found", ""},
		{"POST", "/api/v1/workspaces/w/events", `{"event":"record.exploded","workspace":"w"}`, 400, "invalid", "event"},
		{"POST", "/api/v1/workspaces/w/events", `{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"r"},"targets":[{"id":"t","url":"http://x"}]}`, 400, "invalid", "url"},
		{"POST", "/api/v1/workspaces/acme/events", `{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"r"}}`, 400, "invalid", "workspace"},
		{"POST", "/api/v1/workspaces/acme/events", `{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","record":{"id":"r"}}`, 400, "invalid", "workspace"},
		{"GET", "/api/v1/workspaces/acme/events/bad%20id", "", 400, "invalid", "id"},
		{"GET", "/api/v1/workspaces/acme/events/e1", "", 404, "not_found", ""},
		{"POST", "/api/v1/events", `{"event":"record.created"}`, 410, "gone", ""},
		{"GET", "/api/v1/events/e1", "", 410, "gone", ""},
	}
	for _, tt := range tests {
		status, out := serve(t, s, tt.method, tt.path, tt.body)
		e := out["error"]
		if status != tt.status || e["code"] != tt.code || e["field"] != tt.field || e["message"] == "" {
			t.Errorf("%s %s %.40q: got %d %v, want %d %s on %q", tt.method, tt.path, tt.body, status, e, tt.status, tt.code, tt.field)
		}
	}
	if status, _ := serve(t, s, "POST", "/api/v1/workspaces/acme/webhooks", hook); status != http.StatusCreated {
		t.Errorf("valid create: %d", status)
	}
	broken := &Server{Registry: fakeRegistry{boom: true}, Publisher: fakePublisher{}, Tokens: testKeys}
	if status, out := serve(t, broken, "POST", "/api/v1/workspaces/acme/webhooks", hook); status != http.StatusServiceUnavailable || out["error"]["code"] != "unavailable" {
		t.Errorf("Temporal down: got %d %v, want 503 unavailable", status, out)
	}
}

// Whatever arrives, the API answers with JSON and never a 5xx for a bad
// request, and never panics.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/api/v1/workspaces/acme/webhooks", []byte(`{"name":"A","entity":"contact","events":["record.created"],"url":"https://h.example/x"}`))
	f.Add("POST", "/api/v1/workspaces/w/events", []byte(`{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"r"}}`))
	f.Add("PUT", "/api/v1/workspaces/acme/webhooks/wh_1", []byte(`{"name":"A","conditions":[{"field":"s","op":"changed_to","value":{"a":[1,2]}}]}`))
	f.Add("GET", "/api/v1/workspaces/acme/webhooks/wh_1/deliveries?limit=x", []byte(nil))
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}, Tokens: testKeys}
	h := s.Handler()
	auth := "Bearer " + mint(f, "")
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#%") || method == "" || strings.ContainsAny(method, " \r\n\t:/") {
			return
		}
		req, err := http.NewRequest(method, "http://x"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var out struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Error.Code == "" || out.Error.Message == "" {
				t.Fatalf("%s %s: %d with a body that is not the error shape: %q", method, path, rec.Code, rec.Body)
			}
		}
	})
}

func TestCrossSiteWritesAndForeignHostsRefused(t *testing.T) {
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}, Tokens: testKeys}
	auth := "Bearer " + mint(t, "acme")
	h := HostGuard([]string{"localhost", "127.0.0.1"}, s.Handler())
	hook := `{"name":"A","entity":"contact","events":["record.created"],"url":"https://h.example/x"}`
	send := func(host, origin, site, ctype string) int {
		req := httptest.NewRequest("POST", "/api/v1/workspaces/acme/webhooks", strings.NewReader(hook))
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	tests := []struct {
		name                      string
		host, origin, site, ctype string
		want                      int
	}{
		{"service call", "127.0.0.1:8234", "", "", "application/json", 201},
		{"the Settings page", "localhost:8234", "http://localhost:8234", "same-origin", "application/json", 201},
		{"another site's page", "localhost:8234", "https://evil.example", "cross-site", "text/plain", 403},
		{"another site, no fetch metadata", "localhost:8234", "https://evil.example", "", "application/json", 403},
		{"a form post", "localhost:8234", "", "", "text/plain", 415},
		{"a JSON-looking prefix", "localhost:8234", "", "", "application/jsonp", 415},
		{"another JSON type", "localhost:8234", "", "", "application/json-patch+json", 415},
		{"JSON with a charset", "localhost:8234", "", "", "application/json; charset=utf-8", 201},
		{"JSON in capitals", "localhost:8234", "", "", "Application/JSON", 201},
		{"DNS rebinding", "evil.example:8234", "http://evil.example:8234", "same-origin", "application/json", 421},
	}
	for _, tt := range tests {
		if got := send(tt.host, tt.origin, tt.site, tt.ctype); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

// Every route of workspace B refuses a token of workspace A with 403
// before anything is read or changed; a service token and B's own token
// are let through; requests without a valid token get 401.
func TestEveryRouteIsScopedToItsWorkspace(t *testing.T) {
	var calls []string
	s := &Server{Registry: fakeRegistry{calls: &calls}, Publisher: fakePublisher{calls: &calls}, Tokens: testKeys}
	hook := `{"name":"A","entity":"contact","events":["record.created"],"url":"https://h.example/x"}`
	ev := `{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","workspace":"globex","record":{"id":"r"}}`
	// Walk every registered route (not a list kept by hand): a route
	// outside the scoped helper fails here unless it is one of the few
	// that act on no workspace.
	unscoped := map[string]bool{"/api/v1/events": true, "/api/v1/events/": true, "/": true}
	_, registered := s.mux()
	var routes []struct{ method, path, body string }
	for _, r := range registered {
		if !r.scoped {
			if !unscoped[r.pattern] {
				t.Errorf("route %q does not go through the workspace check (scoped)", r.pattern)
			}
			continue
		}
		method, path, ok := strings.Cut(r.pattern, " ")
		if !ok || !strings.HasPrefix(path, "/api/v1/workspaces/{ws}/") {
			t.Errorf("scoped route %q: want METHOD /api/v1/workspaces/{ws}/...", r.pattern)
			continue
		}
		path = strings.NewReplacer("{ws}", "globex", "{id}", "wh_1").Replace(path)
		body := ""
		switch {
		case method == "POST" && strings.HasSuffix(path, "/events"):
			body = ev
		case method == "POST" && strings.HasSuffix(path, "/webhooks"), method == "PUT", method == "POST" && strings.HasSuffix(path, "/webhooks/preview"):
			body = hook
		case method == "POST" && strings.HasSuffix(path, "/recover"):
			body = `{"since": "2026-03-31T10:00:00Z"}`
		}
		routes = append(routes, struct{ method, path, body string }{method, path, body})
	}
	if len(routes) < 13 {
		t.Fatalf("got %d scoped routes, want at least the 13 of the webhooks and events API", len(routes))
	}
	acme := "Bearer " + mint(t, "acme")
	for _, r := range routes {
		calls = nil
		status, out := serveAs(t, s, acme, r.method, r.path, r.body)
		if status != http.StatusForbidden || out["error"]["code"] != "forbidden" || len(calls) != 0 {
			t.Errorf("%s %s with acme's token: got %d %v and calls %v, want 403 forbidden and no call", r.method, r.path, status, out["error"], calls)
		}
	}
	for _, who := range []string{"globex", ""} {
		auth := "Bearer " + mint(t, who)
		for _, r := range routes {
			calls = nil
			status, _ := serveAs(t, s, auth, r.method, r.path, r.body)
			if r.method == "POST" && strings.HasSuffix(r.path, "/webhooks/preview") {
				// Pure: built from the body, nothing read or stored.
				if status != http.StatusOK || len(calls) != 0 {
					t.Errorf("%s %s with token of %q: got %d and calls %v, want 200 and no call", r.method, r.path, who, status, calls)
				}
				continue
			}
			if status == http.StatusUnauthorized || status == http.StatusForbidden || len(calls) != 1 || !strings.HasSuffix(calls[0], " globex") {
				t.Errorf("%s %s with token of %q: got %d and calls %v, want it served for globex", r.method, r.path, who, status, calls)
			}
		}
	}

	other, _ := token.ParseKeys("t1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("o", 32))))
	forged, _ := other.MintService(time.Hour)
	for _, tt := range []struct {
		name, auth, want string
	}{
		{"no header", "", "bearer token is required"},
		{"another scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), "bearer token is required"},
		{"garbage", "Bearer not.a.jwt", "not valid"},
		{"signed with another key", "Bearer " + forged, "not valid"},
		{"expired", "Bearer " + expiredToken(t), "expired"},
	} {
		calls = nil
		status, out := serveAs(t, s, tt.auth, "GET", "/api/v1/workspaces/globex/webhooks", "")
		if status != http.StatusUnauthorized || out["error"]["code"] != "unauthorized" || !strings.Contains(out["error"]["message"], tt.want) || len(calls) != 0 {
			t.Errorf("%s: got %d %v calls %v, want 401 unauthorized saying %q", tt.name, status, out["error"], calls, tt.want)
		}
	}
	if status, _ := serveAs(t, s, "bEaReR "+mint(t, "globex"), "GET", "/api/v1/workspaces/globex/webhooks", ""); status != http.StatusOK {
		t.Errorf("scheme in mixed case: got %d, want 200", status)
	}
	keyless := &Server{Registry: fakeRegistry{calls: &calls}, Publisher: fakePublisher{calls: &calls}}
	calls = nil
	if status, _ := serveAs(t, keyless, "Bearer "+mint(t, ""), "GET", "/api/v1/workspaces/globex/webhooks", ""); status != http.StatusUnauthorized || len(calls) != 0 {
		t.Errorf("a server without keys: got %d calls %v, want 401 and no call", status, calls)
	}
	open := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}, Open: true}
	if status, _ := serveAs(t, open, "", "GET", "/api/v1/workspaces/globex/webhooks", ""); status != http.StatusOK {
		t.Errorf("an open (development) server without a token: got %d, want 200", status)
	}
}

// expiredToken is a token of globex that expired a minute ago.
func expiredToken(t *testing.T) string {
	t.Helper()
	raw := []byte(strings.Repeat("s", 32)) // testKeys' key t1
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"workspace": "globex", "aud": token.Audience, "exp": time.Now().Add(-time.Minute).Unix()})
	tok.Header["kid"] = "t1"
	s, err := tok.SignedString(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
