package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/signature"
)

// apiClient calls the HTTP API served in-process over the shared server,
// with a token of its workspace.
type apiClient struct {
	t     *testing.T
	srv   *httptest.Server
	ws    string
	token string
}

func newAPI(t *testing.T) *apiClient {
	t.Helper()
	s := httptest.NewServer((&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys, Pages: srv.Keys}).Handler())
	t.Cleanup(s.Close)
	ws := "ws-" + uuid.NewString()[:8]
	return &apiClient{t: t, srv: s, ws: ws, token: workspaceToken(t, ws)}
}

// workspaceToken mints a token of workspace ws.
func workspaceToken(t *testing.T, ws string) string {
	t.Helper()
	tok, err := apiKeys.MintWorkspace(ws, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request and decodes the JSON answer into out (when not nil).
func (c *apiClient) do(method, path, body string, out any) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

func (c *apiClient) hooks() string { return "/api/v1/workspaces/" + c.ws + "/webhooks" }

func (c *apiClient) events() string { return "/api/v1/workspaces/" + c.ws + "/events" }

type apiError struct {
	Error struct{ Code, Message, Field string } `json:"error"`
}

type view struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Active         bool     `json:"active"`
	HasSecret      bool     `json:"has_secret"`
	Secret         string   `json:"secret"`
	ConditionsText string   `json:"conditions_text"`
	Fields         []string `json:"fields"`
	URL            string   `json:"url"`
}

const closedWon = `{"name": "Closed Won to ERP", "entity": "opportunity", "events": ["record.updated", "stage.changed"],
 "conditions": [{"field": "stage", "op": "changed_to", "value": "Closed Won"}],
 "url": "%s", "secret": "hari_registry_secret", "fields": ["name", "amount", "owner"]}`

func oppEvent(ws, newStage string) string {
	return `{"event": "stage.changed", "entity": "opportunity", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + ws + `",
	 "record": {"id": "opp-9", "name": "Acme renewal", "amount": 48000, "owner": "Vincent", "email": "buyer@acme.example", "stage": "` + newStage + `"},
	 "changes": {"stage": {"old": "Negotiation", "new": "` + newStage + `"}}}`
}

func TestWebhookRegistryRoutingAndFieldSelection(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)

	var wh view
	code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh)
	if code != http.StatusCreated || wh.ID == "" {
		t.Fatalf("create: %d %s", code, body)
	}
	if strings.Contains(body, "hari_registry_secret") || strings.Contains(body, "sealed:") || !wh.HasSecret || wh.Secret != "********cret" {
		t.Errorf("create answer exposes or mangles the secret: %s", body)
	}
	if wh.ConditionsText != `stage changed to "Closed Won"` || !wh.Active {
		t.Errorf("create answer: %+v", wh)
	}

	// Bad input: a clear 4xx naming the field, and nothing changes.
	bad := []struct{ body, code, field string }{
		{fmtURL(closedWon, "http://127.0.0.1/erp"), "invalid", "url"},
		{strings.Replace(fmtURL(closedWon, rc.URL), `"stage.changed"`, `"stage.exploded"`, 1), "invalid", "events"},
		{strings.Replace(fmtURL(closedWon, rc.URL), `"opportunity"`, `"spaceship"`, 1), "invalid", "entity"},
		{strings.Replace(fmtURL(closedWon, rc.URL), `"changed_to"`, `"becomes"`, 1), "invalid", "conditions"},
		{strings.Replace(fmtURL(closedWon, rc.URL), `"value": "Closed Won"`, `"value": }`, 1), "invalid_json", "json"},
		{strings.Replace(fmtURL(closedWon, rc.URL), `"fields"`, `"feilds"`, 1), "invalid", "feilds"},
		{fmtURL(closedWon, rc.URL+"/other"), "conflict", "name"},
	}
	for _, b := range bad {
		var e apiError
		code, raw := c.do("POST", c.hooks(), b.body, &e)
		if code < 400 || code >= 500 || e.Error.Code != b.code || e.Error.Field != b.field || e.Error.Message == "" {
			t.Errorf("bad create: got %d %s, want code %s on field %s", code, raw, b.code, b.field)
		}
	}
	var list struct{ Webhooks []view }
	if c.do("GET", c.hooks(), "", &list); len(list.Webhooks) != 1 {
		t.Fatalf("after rejected creates: %d webhooks, want 1", len(list.Webhooks))
	}

	// Only the matching event is delivered, with only the selected fields.
	var won, lost, other map[string]any
	if code, body := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &won); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	if code, body := c.do("POST", c.events(), oppEvent(c.ws, "Proposal"), &lost); code != http.StatusOK || lost["no_match"] != true {
		t.Errorf("non-matching publish: %d %s, want 200 with no_match", code, body)
	}
	if code, body := c.do("POST", c.events(), strings.Replace(oppEvent(c.ws, "Closed Won"), `"opportunity"`, `"contact"`, 1), &other); code != http.StatusOK || other["no_match"] != true {
		t.Errorf("other entity: %d %s, want no_match", code, body)
	}
	hits := rc.WaitHits(t, 1, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if hits = rc.Hits(); len(hits) != 1 {
		t.Fatalf("receiver got %d deliveries, want exactly 1", len(hits))
	}
	var got struct {
		Record  map[string]any `json:"record"`
		Changes map[string]any `json:"changes"`
	}
	_ = json.Unmarshal(hits[0].Body, &got)
	want := map[string]any{"id": "opp-9", "name": "Acme renewal", "amount": 48000.0, "owner": "Vincent"}
	if len(got.Record) != len(want) {
		t.Errorf("record fields: got %v, want %v", got.Record, want)
	}
	for k, v := range want {
		if got.Record[k] != v {
			t.Errorf("record.%s: got %v, want %v", k, got.Record[k], v)
		}
	}
	if !signature.VerifyRequest("hari_registry_secret", hits[0].Header, hits[0].Body) {
		t.Error("the delivery's signature does not verify with the configured secret")
	}
	if hits[0].Header.Get(signature.HeaderID) != won["event_id"].(string)+":"+wh.ID {
		t.Errorf("X-Webhook-Id %q", hits[0].Header.Get(signature.HeaderID))
	}

	// The execution log shows that delivery with its attempt.
	var log struct {
		Deliveries []struct {
			EventID  string `json:"event_id"`
			Delivery struct {
				Status   string
				Attempts []struct {
					StatusCode int `json:"status_code"`
				}
			} `json:"delivery"`
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries", "", &log)
		if len(log.Deliveries) == 1 && log.Deliveries[0].Delivery.Status == "delivered" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(log.Deliveries) != 1 || log.Deliveries[0].EventID != won["event_id"] || len(log.Deliveries[0].Delivery.Attempts) != 1 || log.Deliveries[0].Delivery.Attempts[0].StatusCode != 200 {
		t.Errorf("execution log: %+v", log)
	}

	// Deactivated: matching events match nothing. Activated again: delivered.
	if code, _ := c.do("POST", c.hooks()+"/"+wh.ID+"/deactivate", "", &wh); code != 200 || wh.Active {
		t.Fatalf("deactivate: %d %+v", code, wh)
	}
	var r map[string]any
	c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &r)
	if r["no_match"] != true {
		t.Errorf("publish to a deactivated webhook: %v, want no_match", r)
	}
	// The event delivered before, published again: a duplicate, not a no-match.
	again := strings.Replace(oppEvent(c.ws, "Closed Won"), `{"event"`, `{"id": "`+won["event_id"].(string)+`", "event"`, 1)
	var dup map[string]any
	if code, body := c.do("POST", c.events(), again, &dup); code != http.StatusOK || dup["duplicate"] != true || dup["no_match"] == true {
		t.Errorf("republish after deactivation: %d %s, want a duplicate", code, body)
	}
	c.do("POST", c.hooks()+"/"+wh.ID+"/activate", "", &wh)

	// Update: a new URL takes effect for the next event.
	rc2 := devtest.NewReceiver(t, nil)
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, fmtURL(closedWon, rc2.URL+"/v2"), &wh); code != 200 || wh.URL != rc2.URL+"/v2" {
		t.Fatalf("update: %d %s", code, body)
	}
	c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &r)
	rc2.WaitHits(t, 1, 10*time.Second)

	// Delete: gone, and its id answers 404.
	if code, _ := c.do("DELETE", c.hooks()+"/"+wh.ID, "", nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	var e apiError
	if code, _ := c.do("GET", c.hooks()+"/"+wh.ID, "", &e); code != 404 || e.Error.Code != "not_found" {
		t.Errorf("get after delete: %d %+v", code, e)
	}
}

type testResult struct {
	StatusCode    int       `json:"status_code"`
	DurationMS    int64     `json:"duration_ms"`
	Body          string    `json:"body"`
	BodyTruncated bool      `json:"body_truncated"`
	Error         string    `json:"error"`
	FiredAt       time.Time `json:"fired_at"`
}

func TestTestFire(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	long := strings.Repeat("x", 2048)
	ok := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, long) })
	failing := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		_, _ = io.WriteString(w, "boom")
	})
	hang := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	})
	create := func(name, url string) string {
		var v view
		spec := strings.Replace(fmtURL(closedWon, url), "Closed Won to ERP", name, 1)
		if code, body := c.do("POST", c.hooks(), spec, &v); code != 201 {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
		return v.ID
	}
	fire := func(id string) testResult {
		var res testResult
		if code, body := c.do("POST", c.hooks()+"/"+id+"/test-fire", "", &res); code != 200 {
			t.Fatalf("test fire: %d %s", code, body)
		}
		return res
	}

	okID := create("ok", ok.URL)
	res := fire(okID)
	if res.StatusCode != 200 || res.Body != long || !res.BodyTruncated || res.Error != "" || res.FiredAt.IsZero() {
		t.Errorf("200 with 2 KB: got %+v", res)
	}
	h := ok.Hits()
	if len(h) != 1 || !signature.VerifyRequest("hari_registry_secret", h[0].Header, h[0].Body) || h[0].Header.Get(signature.HeaderAttempt) != "1" {
		t.Fatalf("the test request lacks a real delivery's headers and signature")
	}
	var sample map[string]any
	_ = json.Unmarshal(h[0].Body, &sample)
	rec := sample["record"].(map[string]any)
	// The webhook is there for stage changes to Closed Won: its sample is
	// a stage change, though record.updated is its first event.
	if sample["event"] != "stage.changed" || sample["entity"] != "opportunity" || rec["name"] == nil || rec["amount"] == nil || rec["owner"] == nil {
		t.Errorf("sample payload %s lacks the trigger or the selected fields", h[0].Body)
	}

	// The result persists until dismissed, and the next test replaces it.
	var stored struct{ Result *testResult }
	c.do("GET", c.hooks()+"/"+okID+"/test-result", "", &stored)
	if stored.Result == nil || !stored.Result.FiredAt.Equal(res.FiredAt) {
		t.Fatalf("stored result: %+v", stored.Result)
	}
	second := fire(okID)
	c.do("GET", c.hooks()+"/"+okID+"/test-result", "", &stored)
	if stored.Result == nil || !stored.Result.FiredAt.Equal(second.FiredAt) || second.FiredAt.Equal(res.FiredAt) {
		t.Errorf("a second test fire did not replace the first")
	}
	if code, _ := c.do("DELETE", c.hooks()+"/"+okID+"/test-result", "", nil); code != http.StatusNoContent {
		t.Errorf("dismiss: %d", code)
	}
	stored.Result = &testResult{}
	c.do("GET", c.hooks()+"/"+okID+"/test-result", "", &stored)
	if stored.Result != nil {
		t.Errorf("after dismiss: %+v", stored.Result)
	}

	if res := fire(create("failing", failing.URL)); res.StatusCode != 500 || res.Body != "boom" || res.BodyTruncated || !strings.Contains(res.Error, "500") {
		t.Errorf("500: got %+v", res)
	}
	if n := len(failing.Hits()); n != 1 {
		t.Errorf("a failing test fire was sent %d times, want once (no retries)", n)
	}
	l, _ := devtest.FreeAddr()
	if res := fire(create("closed", "https://"+l)); res.StatusCode != 0 || !strings.Contains(res.Error, "connection_refused") {
		t.Errorf("closed port: got %+v", res)
	}
	start := time.Now()
	res = fire(create("hang", hang.URL))
	took := time.Since(start)
	if res.StatusCode != 0 || !strings.Contains(res.Error, "timeout") || res.DurationMS < 14500 || res.DurationMS > 16000 || took > 19*time.Second {
		t.Errorf("hanging receiver: got %+v after %s, want a timeout near 15 s", res, took)
	}
}

func fmtURL(spec, url string) string { return strings.Replace(spec, "%s", url, 1) }

// A URL whose host is a literal internal address is refused when it is
// configured, through the API and at publish.
func TestInternalAddressesRefusedAtConfiguration(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	for _, u := range []string{"https://10.0.0.5/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]:8443/x", "https://127.0.0.2/x"} {
		var e apiError
		code, raw := c.do("POST", c.hooks(), fmtURL(closedWon, u), &e)
		if code != http.StatusBadRequest || e.Error.Field != "url" || !strings.Contains(e.Error.Message, "is in a blocked range") {
			t.Errorf("%s: got %d %s, want 400 on url naming the blocked range", u, code, raw)
		}
	}
	var e apiError
	event := strings.Replace(oppEvent(c.ws, "Closed Won"), `"changes"`, `"targets": [{"id": "t", "url": "https://192.168.1.10/x"}], "changes"`, 1)
	if code, raw := c.do("POST", c.events(), event, &e); code != http.StatusBadRequest || !strings.Contains(e.Error.Message, "destination 192.168.1.10 is in a blocked range") {
		t.Errorf("direct target: got %d %s", code, raw)
	}
}
