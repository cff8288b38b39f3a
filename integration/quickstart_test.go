package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/signature"
)

// The Quick start's pieces fit: the example webhook that make run seeds
// (testdata/webhooks/demo.json, through `webhooks ensure`, once however
// often it runs) matches the event make demo-event publishes
// (testdata/events/demo_won.json, routed by the registry, no direct
// target), and the delivery reaches the receiver, signed with the demo
// secret the demo receiver checks, and shows in the webhook's log.
func TestQuickStartDemoWebhookGetsTheDemoEvent(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc)
	e.startWorker()
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	ws := "qs-" + uuid.NewString()[:8]

	// The seeded definition, pointed at this test's receiver.
	var hook map[string]any
	readJSON(t, filepath.Join(root, "testdata/webhooks/demo.json"), &hook)
	if hook["url"] != "https://127.0.0.1:9443/webhooks/hari" || hook["secret"] != "demo-secret-2026" {
		t.Fatalf("demo webhook: url %v secret %v, want the demo receiver's address and secret (scripts/run.sh)", hook["url"], hook["secret"])
	}
	hook["url"] = rc.URL + "/webhooks/hari"
	spec, _ := json.Marshal(hook)
	var ids []string
	for range 2 { // make run seeds on every start: one webhook all the same
		stdout, stderr, code := e.starterRun(string(spec), "webhooks", "ensure", "--workspace", ws, "--file", "-", "--json")
		var v view
		if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.ID == "" {
			t.Fatalf("webhooks ensure: exit %d, %s %s", code, stdout, stderr)
		}
		ids = append(ids, v.ID)
	}
	stdout, stderr, code := e.starterRun("", "webhooks", "list", "--workspace", ws, "--json")
	var list []view
	if code != 0 || json.Unmarshal([]byte(stdout), &list) != nil || len(list) != 1 || ids[0] != ids[1] || list[0].ID != ids[0] {
		t.Fatalf("after ensure twice: ids %v, list %s %s; want one webhook", ids, stdout, stderr)
	}

	// The demo event, as make demo-event sends it (its workspace set).
	var ev map[string]any
	readJSON(t, filepath.Join(root, "testdata/events/demo_won.json"), &ev)
	if _, direct := ev["targets"]; direct {
		t.Fatal("demo_won.json has targets: make demo-event must go through the registry, not direct mode")
	}
	ev["workspace"] = ws
	body, _ := json.Marshal(ev)
	stdout, stderr, code = e.starterRun(string(body), "publish", "--file", "-", "--wait", "--json")
	var o cliOutcome
	if code != 0 || json.Unmarshal([]byte(stdout), &o) != nil {
		t.Fatalf("publish: exit %d, %s %s", code, stdout, stderr)
	}
	if len(o.Deliveries) != 1 || o.Deliveries[0].WebhookID != ids[0] || o.Deliveries[0].Status != "delivered" {
		t.Fatalf("demo event: got %+v, want one delivery to the demo webhook, delivered", o.Deliveries)
	}
	hits := rc.Hits()
	if len(hits) != 1 || !signature.VerifyRequest("demo-secret-2026", hits[0].Header, hits[0].Body) || !strings.Contains(string(hits[0].Body), `"stage":{"old":"Negotiation","new":"Closed Won"}`) {
		t.Fatalf("receiver: %d requests; want one, signed with demo-secret-2026, the stage moving to Closed Won", len(hits))
	}
	// The page's Delivery log reads the same execution log.
	waitUntil(t, "the delivery in the webhook's log", func() bool {
		stdout, _, code := e.starterRun("", "webhooks", "deliveries", "--workspace", ws, "--id", ids[0], "--json")
		return code == 0 && strings.Contains(stdout, o.EventID) && strings.Contains(stdout, `"delivered"`)
	})
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// waitUntil polls cond until it holds, for up to a minute (the machine
// may be loaded; visibility lags).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
