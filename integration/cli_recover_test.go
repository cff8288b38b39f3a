package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/signature"
)

// starter redeliver, starter recover and the health in starter webhooks
// get --json, against the worker binary.
func TestStarterRedeliverRecoverAndHealth(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	e := newCLIEnv(t, rc)
	e.startWorker()
	ws := "cli-" + uuid.NewString()[:8]
	since := time.Now().Add(-time.Second).UTC()
	spec := `{"name": "ERP", "entity": "opportunity", "events": ["stage.changed"], "url": "` + rc.URL + `", "secret": "hari_cli_secret_1"}`
	stdout, stderr, code := e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-", "--json")
	var v struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.ID == "" {
		t.Fatalf("create: exit %d, %s %s", code, stdout, stderr)
	}
	event := `{"event": "stage.changed", "entity": "opportunity", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + ws + `",
	  "record": {"id": "o1", "name": "Deal"}, "changes": {"stage": {"old": "Proposal", "new": "Closed Won"}}}`
	publishFailed := func() string {
		t.Helper()
		stdout, stderr, code := e.starterRun(event, "publish", "--file", "-", "--wait", "--json")
		var o cliOutcome
		if code != 3 || json.Unmarshal([]byte(stdout), &o) != nil || len(o.Deliveries) != 1 || o.Deliveries[0].Status != "failed" {
			t.Fatalf("publish during the outage: exit %d, %s %s; want exit 3 with the delivery failed", code, stdout, stderr)
		}
		return o.EventID
	}
	first := publishFailed()

	// health in webhooks get --json.
	var got struct {
		State  string `json:"state"`
		Health *struct {
			Consecutive int    `json:"consecutive_failures"`
			LastError   string `json:"last_error"`
		} `json:"health"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		stdout, stderr, code = e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID, "--json")
		if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
			t.Fatalf("webhooks get: exit %d, %s %s", code, stdout, stderr)
		}
		if got.Health != nil && got.Health.Consecutive == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks get --json: %s, want health with 1 failure in a row", stdout)
		}
	}
	if got.State != "active" || !strings.Contains(got.Health.LastError, "410") {
		t.Errorf("webhooks get --json: state %q, last error %q; want active and the 410", got.State, got.Health.LastError)
	}

	if stdout, _, code := e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID); code != 0 || !strings.Contains(stdout, "  active") ||
		!strings.Contains(stdout, "health: 0.0% delivered in 24 h") || !strings.Contains(stdout, "1 failed in a row since") {
		t.Errorf("webhooks get: exit %d, %q; want the state, the success rate and the failure in a row", code, stdout)
	}

	down.Store(false)
	stdout, stderr, code = e.starterRun("", "redeliver", "--workspace", ws, "--webhook", v.ID, "--delivery", first+":"+v.ID, "--wait", "--json")
	var red struct {
		Redelivery struct {
			ID           string `json:"redelivery_id"`
			RedeliveryOf string `json:"redelivery_of"`
		} `json:"redelivery"`
		Outcome cliOutcome `json:"outcome"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &red) != nil || !strings.HasPrefix(red.Redelivery.ID, "webhook-redelivery:"+ws+":") ||
		len(red.Outcome.Deliveries) != 1 || red.Outcome.Deliveries[0].Status != "delivered" {
		t.Fatalf("redeliver: exit %d, %s %s", code, stdout, stderr)
	}
	if _, stderr, code := e.starterRun("", "redeliver", "--workspace", ws, "--webhook", v.ID, "--delivery", first+":wh_other"); code != 2 || !strings.Contains(stderr, "delivery_id") {
		t.Errorf("redeliver of another webhook's delivery: exit %d %s, want 2 naming delivery_id", code, stderr)
	}

	down.Store(true)
	second := publishFailed()
	down.Store(false)
	stdout, stderr, code = e.starterRun("", "recover", "--workspace", ws, "--webhook", v.ID, "--since", since.Format(time.RFC3339Nano), "--wait", "--json")
	var rec struct {
		JobID string `json:"job_id"`
		State string `json:"state"`
		Total int    `json:"total"`
		Sent  int    `json:"sent"`
		Done  bool   `json:"done"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rec) != nil || !rec.Done || rec.State != "done" || rec.Total != 2 || rec.Sent != 2 {
		t.Fatalf("recover --wait: exit %d, %s %s; want done, 2 of 2 sent (one already redelivered)", code, stdout, stderr)
	}
	stdout, _, code = e.starterRun("", "recover", "--workspace", ws, "--webhook", v.ID, "--job", rec.JobID)
	if code != 0 || !strings.Contains(stdout, "done, 2 of 2 sent") {
		t.Errorf("recover --job: exit %d, %q", code, stdout)
	}
	if _, stderr, code := e.starterRun("", "recover", "--workspace", ws, "--webhook", v.ID, "--since", "yesterday"); code != 2 || !strings.Contains(stderr, "--since") {
		t.Errorf("recover --since yesterday: exit %d %s, want 2 naming --since", code, stderr)
	}
	per := map[string]int{}
	for _, h := range rc.Hits() {
		per[h.Header.Get(signature.HeaderID)]++
	}
	if per[first+":"+v.ID] != 2 || per[second+":"+v.ID] != 2 {
		t.Errorf("requests per delivery: %v, want 2 each (the failure, then one redelivery)", per)
	}
}

// The worker binary disables a webhook whose endpoint keeps failing, by
// its HARI_DISABLE_* settings (2 in a row, checked every second).
func TestWorkerDisablesAFailingWebhook(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	e := newCLIEnv(t, rc)
	e.launchWorker([]string{"-dev"}, "HARI_DISABLE_EVERY=1s", "HARI_DISABLE_AFTER=2", "HARI_DISABLE_SPAN=1ms")
	ws := "cli-" + uuid.NewString()[:8]
	spec := `{"name": "ERP", "entity": "opportunity", "events": ["stage.changed"], "url": "` + rc.URL + `"}`
	stdout, stderr, code := e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-", "--json")
	var v struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.ID == "" {
		t.Fatalf("create: exit %d, %s %s", code, stdout, stderr)
	}
	event := `{"event": "stage.changed", "entity": "opportunity", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + ws + `",
	  "record": {"id": "o1", "name": "Deal"}, "changes": {"stage": {"old": "Proposal", "new": "Closed Won"}}}`
	publish := func() {
		t.Helper()
		if stdout, stderr, code := e.starterRun(event, "publish", "--file", "-", "--wait", "--json"); code != 3 {
			t.Fatalf("publish: exit %d, %s %s; want 3 (failed)", code, stdout, stderr)
		}
	}
	publish()
	time.Sleep(3 * time.Second) // one failure: the worker's checks leave it active
	var got struct {
		State  string `json:"state"`
		Reason string `json:"disabled_reason"`
	}
	stdout, _, _ = e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID, "--json")
	if json.Unmarshal([]byte(stdout), &got) != nil || got.State != "active" {
		t.Fatalf("after one failure: %s, want active", stdout)
	}
	publish()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		stdout, _, _ = e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID, "--json")
		if json.Unmarshal([]byte(stdout), &got) == nil && got.State == "disabled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after two failures: %s, want disabled within 30 s", stdout)
		}
	}
	if !strings.Contains(got.Reason, "2 deliveries failed in a row") {
		t.Errorf("reason %q, want it to count the 2 failures", got.Reason)
	}
	if n := len(rc.Hits()); n != 2 {
		t.Errorf("receiver got %d requests, want 2", n)
	}

	// While disabled: the event is not sent, and webhooks get counts it.
	if stdout, stderr, code := e.starterRun(event, "publish", "--file", "-", "--wait", "--json"); code != 0 || !strings.Contains(stdout, `"skipped"`) {
		t.Fatalf("publish while disabled: exit %d, %s %s; want 0 with the delivery skipped", code, stdout, stderr)
	}
	var count struct {
		NotSent *int `json:"not_sent_while_disabled"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		stdout, _, _ = e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID, "--json")
		if json.Unmarshal([]byte(stdout), &count) == nil && count.NotSent != nil && *count.NotSent == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks get while disabled: %s, want not_sent_while_disabled 1", stdout)
		}
	}
	if stdout, _, code := e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID); code != 0 || !strings.Contains(stdout, "1 not sent while disabled") {
		t.Errorf("webhooks get while disabled: exit %d %q, want it to say 1 not sent while disabled", code, stdout)
	}
	if n := len(rc.Hits()); n != 2 {
		t.Errorf("receiver got %d requests, want still 2 (none while disabled)", n)
	}
}
