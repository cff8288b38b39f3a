package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// fakeRegistry validates like the real client and stores nothing: enough
// to exercise the HTTP layer (the real registry is tested in integration).
type fakeRegistry struct{ boom bool }

func (f fakeRegistry) Create(_ context.Context, ws string, spec webhook.Spec) (webhook.View, error) {
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
func (fakeRegistry) Update(ctx context.Context, ws, id string, spec webhook.Spec) (webhook.View, error) {
	if id != "wh_1" {
		return webhook.View{}, registry.ErrNotFound
	}
	return fakeRegistry{}.Create(ctx, ws, spec)
}
func (fakeRegistry) SetActive(context.Context, string, string, bool) (webhook.View, error) {
	return webhook.View{}, registry.ErrNotFound
}
func (fakeRegistry) Delete(context.Context, string, string) error { return registry.ErrNotFound }
func (fakeRegistry) List(_ context.Context, ws string) ([]webhook.View, error) {
	return []webhook.View{}, registry.ValidateWorkspace(ws)
}
func (fakeRegistry) Get(context.Context, string, string) (webhook.View, error) {
	return webhook.View{}, registry.ErrNotFound
}
func (fakeRegistry) TestFire(context.Context, string, string) (workflows.TestResult, error) {
	return workflows.TestResult{}, registry.ErrNotFound
}
func (fakeRegistry) TestResult(context.Context, string, string) (*workflows.TestResult, error) {
	return nil, registry.ErrNotFound
}
func (fakeRegistry) DismissTest(context.Context, string, string) error { return registry.ErrNotFound }

type fakePublisher struct{}

func (fakePublisher) Publish(_ context.Context, in workflows.EventInput) (publisher.Receipt, error) {
	if err := publisher.Validate(&in); err != nil {
		return publisher.Receipt{}, err
	}
	return publisher.Receipt{EventID: in.Event.ID, NoMatch: len(in.Targets) == 0}, nil
}
func (fakePublisher) Show(context.Context, string) (publisher.Outcome, error) {
	return publisher.Outcome{}, publisher.ErrNotFound
}
func (fakePublisher) Deliveries(context.Context, string, string, int) ([]publisher.LogEntry, error) {
	return nil, nil
}

func serve(t testing.TB, s *Server, method, path, body string) (int, map[string]map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s.Handler().ServeHTTP(rec, req)
	var out map[string]map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return rec.Code, out
}

func TestErrorsHaveOneShapeAndStatus(t *testing.T) {
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}}
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
		{"POST", "/api/v1/events", `{"event":"record.exploded"}`, 400, "invalid", "event"},
		{"POST", "/api/v1/events", `{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"r"},"targets":[{"id":"t","url":"http://x"}]}`, 400, "invalid", "url"},
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
	broken := &Server{Registry: fakeRegistry{boom: true}, Publisher: fakePublisher{}}
	if status, out := serve(t, broken, "POST", "/api/v1/workspaces/acme/webhooks", hook); status != http.StatusServiceUnavailable || out["error"]["code"] != "unavailable" {
		t.Errorf("Temporal down: got %d %v, want 503 unavailable", status, out)
	}
	tok := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}, Token: "t0ken"}
	if status, _ := serve(t, tok, "GET", "/api/v1/workspaces/acme/webhooks", ""); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}
}

// Whatever arrives, the API answers with JSON and never a 5xx for a bad
// request, and never panics.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/api/v1/workspaces/acme/webhooks", []byte(`{"name":"A","entity":"contact","events":["record.created"],"url":"https://h.example/x"}`))
	f.Add("POST", "/api/v1/events", []byte(`{"event":"record.created","entity":"c","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"r"}}`))
	f.Add("PUT", "/api/v1/workspaces/acme/webhooks/wh_1", []byte(`{"name":"A","conditions":[{"field":"s","op":"changed_to","value":{"a":[1,2]}}]}`))
	f.Add("GET", "/api/v1/workspaces/acme/webhooks/wh_1/deliveries?limit=x", []byte(nil))
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#%") || method == "" || strings.ContainsAny(method, " \r\n\t:/") {
			return
		}
		req, err := http.NewRequest(method, "http://x"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
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
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}}
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
		{"DNS rebinding", "evil.example:8234", "http://evil.example:8234", "same-origin", "application/json", 421},
	}
	for _, tt := range tests {
		if got := send(tt.host, tt.origin, tt.site, tt.ctype); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}
