package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// The README's first five minutes in a real browser: the worker in -dev
// with API keys (as make run starts it), the example webhook seeded by
// `webhooks ensure` (as make run does), the Settings link make run prints
// (a token from `starter token` in its fragment) opened in Chromium, then
// the demo event as make demo-event publishes it: the delivery appears in
// the open Delivery log without a reload.
func TestQuickStartInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc)
	e.env = append(e.env, "HARI_API_KEYS="+apiKeySpec)
	w := e.startWorker()
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	ws := "qs-" + uuid.NewString()[:8]
	var hook map[string]any
	readJSON(t, filepath.Join(root, "testdata/webhooks/demo.json"), &hook)
	hook["url"] = rc.URL + "/webhooks/hari" // the demo receiver's stand-in
	spec, _ := json.Marshal(hook)
	stdout, stderr, code := e.starterRun(string(spec), "webhooks", "ensure", "--workspace", ws, "--file", "-", "--json")
	var v view
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.ID == "" {
		t.Fatalf("webhooks ensure: exit %d, %s %s", code, stdout, stderr)
	}
	tok, stderr, code := e.starterRun("", "token", "--workspace", ws, "--ttl", "12h")
	if code != 0 || strings.TrimSpace(tok) == "" {
		t.Fatalf("starter token: exit %d, %s", code, stderr)
	}
	link := "http://" + w.addr + "/settings/webhooks?workspace=" + ws + "#token=" + strings.TrimSpace(tok)

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	row := `tr.hook[data-id="` + v.ID + `"]`
	step(t, ctx, "open the Settings link", chromedp.Navigate(link), chromedp.WaitVisible(C(`body[data-ready="true"]`)), chromedp.WaitVisible(C(row)),
		chromedp.Click(C(row+` button[data-action="log"]`)))
	waitFor(t, ctx, "the empty log", `document.querySelector("#log-`+v.ID+`").textContent.includes("No deliveries yet")`)
	noSidewaysScroll(t, ctx, "the Quick start's empty log at 1280 px")
	shot(t, ctx, "50-quickstart-before-demo-event")

	// make demo-event: the demo event, its workspace set, published and waited for.
	b, err := os.ReadFile(filepath.Join(root, "testdata/events/demo_won.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(b), `"workspace": "yourcompany"`, `"workspace": "`+ws+`"`, 1)
	if stdout, stderr, code := e.starterRun(body, "publish", "--file", "-", "--wait"); code != 0 {
		t.Fatalf("publish the demo event: exit %d, %s %s", code, stdout, stderr)
	}
	// No reload: the open log shows it by itself.
	waitFor(t, ctx, "the demo delivery in the open log", `!!document.querySelector('#log-`+v.ID+` li.delivery[data-status="delivered"]')`)
	waitFor(t, ctx, "the demo record's name", `document.querySelector('#log-`+v.ID+` li.delivery .record-title').textContent === "Acme Corp – 200 seats · a1b2c3d4-0000-4000-8000-000000000001"`)
	if hits := rc.Hits(); len(hits) != 1 {
		t.Errorf("the demo receiver got %d requests, want 1", len(hits))
	}
	noSidewaysScroll(t, ctx, "the Quick start's delivered log at 1280 px")
	shot(t, ctx, "51-quickstart-demo-delivery")
	step(t, ctx, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(300*time.Millisecond))
	noSidewaysScroll(t, ctx, "the Quick start's delivered log at 390 px")
}
