package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/signature"
)

// The attack suite of issue 11 (findings 2 and 3), against the worker
// binary as it runs in production (no -dev: signed API tokens and a codec
// token required) on the real dev server: workspace A's admin, holding A's
// token, tries every route on workspace B; each answer is 403 and nothing
// of B is read, changed or sent. Then event-ID squatting, and the codec
// endpoint without a token.

const codecToken = "attack-suite-codec-token"

// workerAPI calls a worker process's HTTP API with a bearer token.
type workerAPI struct {
	t    *testing.T
	base string
}

func (w workerAPI) call(method, path, token, body string) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.base+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errorCode(b []byte) string {
	var e apiError
	_ = json.Unmarshal(b, &e)
	return e.Error.Code
}

func productionWorker(t *testing.T, rc *devtest.Receiver) (*cliEnv, *proc) {
	t.Helper()
	e := newCLIEnv(t, rc)
	return e, e.launchWorker(nil, "HARI_API_KEYS="+apiKeySpec, "HARI_CODEC_TOKEN="+codecToken)
}

func TestAttackCrossWorkspaceAccess(t *testing.T) {
	t.Parallel()
	victim := devtest.NewReceiver(t, nil)   // workspace B's receiver
	attacker := devtest.NewReceiver(t, nil) // workspace A's receiver
	_, worker := productionWorker(t, victim)
	api := workerAPI{t: t, base: "http://" + worker.addr}
	wsA, wsB := "atk-a-"+uuid.NewString()[:6], "atk-b-"+uuid.NewString()[:6]
	tokA, tokB := workspaceToken(t, wsA), workspaceToken(t, wsB)
	b := "/api/v1/workspaces/" + wsB

	// B's admin sets up a webhook with a secret and publishes one event.
	code, body := api.call("POST", b+"/webhooks", tokB, fmtURL(closedWon, victim.URL))
	var hook view
	if code != http.StatusCreated || json.Unmarshal(body, &hook) != nil {
		t.Fatalf("B creates its webhook: %d %s", code, body)
	}
	code, body = api.call("POST", b+"/events", tokB, oppEvent(wsB, "Closed Won"))
	var receipt struct {
		EventID string `json:"event_id"`
	}
	if code != http.StatusAccepted || json.Unmarshal(body, &receipt) != nil {
		t.Fatalf("B publishes: %d %s", code, body)
	}
	victim.WaitHits(t, 1, 10*time.Second)
	_, before := api.call("GET", b+"/webhooks", tokB, "")

	// A's admin, with A's token, against every route of B.
	evil := strings.Replace(fmtURL(closedWon, attacker.URL), `"secret": "hari_registry_secret", `, "", 1)
	h := b + "/webhooks/" + hook.ID
	attacks := []struct{ method, path, body string }{
		{"GET", b + "/webhooks", ""},
		{"GET", h, ""},
		{"POST", b + "/webhooks", strings.Replace(evil, "Closed Won to ERP", "Exfiltrate", 1)},
		{"PUT", h, evil}, // the URL swap that would carry B's secret to A
		{"POST", h + "/deactivate", ""},
		{"POST", h + "/activate", ""},
		{"POST", h + "/test-fire", ""},
		{"GET", h + "/test-result", ""},
		{"DELETE", h + "/test-result", ""},
		{"GET", h + "/deliveries", ""},
		{"POST", b + "/events", oppEvent(wsB, "Closed Won")},
		{"GET", b + "/events/" + receipt.EventID, ""},
		{"DELETE", h, ""},
	}
	for _, a := range attacks {
		code, body := api.call(a.method, a.path, tokA, a.body)
		if code != http.StatusForbidden || errorCode(body) != "forbidden" {
			t.Errorf("A: %s %s: got %d %s, want 403 forbidden", a.method, a.path, code, body)
		}
		if bytes.Contains(body, []byte(hook.ID)) || bytes.Contains(body, []byte(victim.URL)) {
			t.Errorf("A: %s %s: the answer reveals B's webhook: %s", a.method, a.path, body)
		}
	}
	// Nor through A's own path: the body's workspace must be the path's.
	if code, body := api.call("POST", "/api/v1/workspaces/"+wsA+"/events", tokA, oppEvent(wsB, "Closed Won")); code != http.StatusBadRequest || !strings.Contains(string(body), `"field":"workspace"`) {
		t.Errorf("A publishes B's event under A's path: got %d %s, want 400 on field workspace", code, body)
	}
	// Nor by asking for B's event under A's workspace.
	if code, body := api.call("GET", "/api/v1/workspaces/"+wsA+"/events/"+receipt.EventID, tokA, ""); code != http.StatusNotFound {
		t.Errorf("A reads B's event id under A: got %d %s, want 404", code, body)
	}
	// Nor without a token, or with the old routes.
	if code, body := api.call("GET", b+"/webhooks", "", ""); code != http.StatusUnauthorized || errorCode(body) != "unauthorized" {
		t.Errorf("no token: got %d %s, want 401 unauthorized", code, body)
	}
	if code, body := api.call("POST", "/api/v1/events", tokA, oppEvent(wsB, "Closed Won")); code != http.StatusGone {
		t.Errorf("the old publish route: got %d %s, want 410", code, body)
	}

	// Nothing of B changed, nothing was sent to anyone.
	time.Sleep(time.Second)
	if _, after := api.call("GET", b+"/webhooks", tokB, ""); !bytes.Equal(before, after) {
		t.Errorf("B's webhooks changed:\nbefore %s\nafter  %s", before, after)
	}
	if _, res := api.call("GET", h+"/test-result", tokB, ""); strings.TrimSpace(string(res)) != `{"result":null}` {
		t.Errorf("B's test result after A's test fire: got %s, want none", res)
	}
	if n := len(victim.Hits()); n != 1 {
		t.Errorf("B's receiver got %d requests, want only B's own event", n)
	}
	if n := len(attacker.Hits()); n != 0 {
		t.Errorf("A's receiver got %d requests, want 0", n)
	}
	var log struct{ Deliveries []json.RawMessage }
	if _, raw := api.call("GET", h+"/deliveries", tokB, ""); json.Unmarshal(raw, &log) != nil || len(log.Deliveries) > 1 {
		t.Errorf("B's execution log: %s, want B's one delivery at most", raw)
	}
	// A service token may act for B (HARi's own services).
	svc, err := apiKeys.MintService(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := api.call("GET", h, svc, ""); code != http.StatusOK {
		t.Errorf("service token on B: got %d %s, want 200", code, body)
	}
}

// One workspace cannot claim another's event IDs: A publishes event id X
// first; B's event X is still delivered; A's second X is a duplicate.
func TestAttackEventIDSquatting(t *testing.T) {
	t.Parallel()
	victim := devtest.NewReceiver(t, nil)
	attacker := devtest.NewReceiver(t, nil)
	_, worker := productionWorker(t, victim)
	api := workerAPI{t: t, base: "http://" + worker.addr}
	wsA, wsB := "sq-a-"+uuid.NewString()[:6], "sq-b-"+uuid.NewString()[:6]
	tokA, tokB := workspaceToken(t, wsA), workspaceToken(t, wsB)
	for _, s := range []struct{ ws, tok, url string }{{wsA, tokA, attacker.URL}, {wsB, tokB, victim.URL}} {
		if code, body := api.call("POST", "/api/v1/workspaces/"+s.ws+"/webhooks", s.tok, fmtURL(closedWon, s.url)); code != http.StatusCreated {
			t.Fatalf("create the webhook of %s: %d %s", s.ws, code, body)
		}
	}
	x := "order-" + uuid.NewString()[:8] // a predictable ID B will use
	withID := func(ws string) string {
		return strings.Replace(oppEvent(ws, "Closed Won"), `{"event"`, `{"id": "`+x+`", "event"`, 1)
	}
	type receipt struct {
		WorkflowID string `json:"workflow_id"`
		Duplicate  bool   `json:"duplicate"`
	}
	publish := func(ws, tok string) (int, receipt) {
		code, body := api.call("POST", "/api/v1/workspaces/"+ws+"/events", tok, withID(ws))
		var r receipt
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("publish in %s: %d %s", ws, code, body)
		}
		return code, r
	}
	if code, r := publish(wsA, tokA); code != http.StatusAccepted || r.Duplicate || r.WorkflowID != "webhook-event:"+wsA+":"+x {
		t.Fatalf("A squats %s: got %d %+v, want 202 with workflow webhook-event:%s:%s", x, code, r, wsA, x)
	}
	attacker.WaitHits(t, 1, 10*time.Second)
	if code, r := publish(wsB, tokB); code != http.StatusAccepted || r.Duplicate {
		t.Fatalf("B's own event %s after A's: got %d %+v, want 202, not a duplicate", x, code, r)
	}
	hits := victim.WaitHits(t, 1, 10*time.Second)
	if got := hits[0].Header.Get(signature.HeaderID); !strings.HasPrefix(got, x+":") {
		t.Errorf("B's delivery: X-Webhook-Id %q, want %s:<webhook>", got, x)
	}
	if code, r := publish(wsA, tokA); code != http.StatusOK || !r.Duplicate {
		t.Errorf("A's second %s: got %d %+v, want 200 duplicate", x, code, r)
	}
	time.Sleep(500 * time.Millisecond)
	if a, v := len(attacker.Hits()), len(victim.Hits()); a != 1 || v != 1 {
		t.Errorf("deliveries: A's receiver %d, B's %d; want 1 each", a, v)
	}
}

// Outside development the codec endpoint decrypts and encrypts nothing
// without its token.
func TestAttackCodecWithoutToken(t *testing.T) {
	t.Parallel()
	_, worker := productionWorker(t, devtest.NewReceiver(t, nil))
	api := workerAPI{t: t, base: "http://" + worker.addr}
	payloads := `{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"ImhpIg=="}]}`
	for _, path := range []string{"/codec/encode", "/codec/decode"} {
		for _, tok := range []string{"", "wrong-token", workspaceToken(t, "ws1")} {
			code, body := api.call("POST", path, tok, payloads)
			if code != http.StatusUnauthorized || bytes.Contains(body, []byte("payloads")) {
				t.Errorf("POST %s with token %.12q: got %d %s, want 401 and no payload", path, tok, code, body)
			}
		}
	}
	// With the token it works, so the 401s above are the guard, not a fault.
	code, body := api.call("POST", "/codec/encode", codecToken, payloads)
	if code != http.StatusOK || !strings.Contains(string(body), "YmluYXJ5L2VuY3J5cHRlZA==") { // base64 of "binary/encrypted"
		t.Errorf("POST /codec/encode with the token: got %d %s, want 200 with an encrypted payload", code, body)
	}
}

// Outside development the worker refuses to start without keys.
func TestWorkerRefusesToStartWithoutKeysOutsideDevelopment(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, devtest.NewReceiver(t, nil))
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"HARI_API_KEYS=", "HARI_API_KEYS_FILE=", "HARI_CODEC_TOKEN=x"}, "no API signing keys"},
		{[]string{"HARI_API_KEYS=" + apiKeySpec, "HARI_CODEC_TOKEN="}, "no codec token"},
	} {
		cmd := e.workerCommand(nil, tt.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("env %v: got exit %v, stderr %q; want a refusal saying %q", tt.env, err, stderr.String(), tt.want)
		}
	}
}
