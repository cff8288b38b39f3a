package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/settings"
	"github.com/hari-crm/webhooks/signature"
)

// The delivery log's Redeliver button and the Recover action, in a real
// browser against the real service: a failed delivery is redelivered
// (marked as a redelivery in the log), and a recovery since a time sends
// the other failed deliveries once, with its progress on the page.
func TestRedeliverAndRecoverInBrowser(t *testing.T) {
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
	mux := http.NewServeMux()
	mux.Handle("/api/", (&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys}).Handler())
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: "http://localhost:8233", Namespace: "default"}))
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	ws := "ui-" + uuid.NewString()[:8]
	tok := workspaceToken(t, ws)
	c := &apiClient{t: t, srv: site, ws: ws, token: tok}
	wh := createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	// Three deliveries fail during the outage.
	var events []string
	for range 3 {
		var receipt struct {
			EventID string `json:"event_id"`
		}
		if code, b := c.do("POST", c.events(), oppEvent(ws, "Closed Won"), &receipt); code != http.StatusAccepted {
			t.Fatalf("publish: %d %s", code, b)
		}
		if _, err := pub.Wait(context.Background(), ws, receipt.EventID); err != nil {
			t.Fatal(err)
		}
		events = append(events, receipt.EventID)
	}
	down.Store(false)
	waitListed(t, context.Background(), ws, wh.ID, time.Now().Add(-time.Hour), 3)

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	step(t, ctx, "open the delivery log",
		chromedp.Navigate(site.URL+"/settings/webhooks?workspace="+ws+"#token="+tok),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook button[data-action="log"]`)),
		chromedp.WaitVisible(C(`.log li.delivery button[data-action="redeliver"]`)),
	)
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('.log li.delivery button[data-action="redeliver"]').length`)); n != 3 {
		t.Errorf("got %d Redeliver buttons, want one on each of the 3 failed deliveries", n)
	}
	step(t, ctx, "health figures", chromedp.WaitVisible(C(`tr.hook td.health .streak`)))
	health := get(t, ctx, chromedp.Text(C(`tr.hook td.health`)))
	waitFor(t, ctx, "the last error in plain language", `document.querySelector("tr.hook td.health .last-error .problem") !== null`)
	health = get(t, ctx, chromedp.Text(C(`tr.hook td.health`)))
	if !strings.Contains(health, "0% delivered in 24 h") || !strings.Contains(health, "3 failed in a row") || !strings.Contains(health, "answered HTTP 410 Gone") || !strings.Contains(health, "Check the path in the URL") {
		t.Errorf("health cell %q, want 0%% delivered, 3 failed in a row, the last error in plain language naming 410 with a next step", health)
	}
	shot(t, ctx, "11-delivery-log-failed")

	// Redeliver the newest (first) delivery.
	first := get(t, ctx, chromedp.AttributeValue(C(`.log li.delivery`), "data-delivery"))
	step(t, ctx, "redeliver",
		chromedp.Click(C(`.log li.delivery button[data-action="redeliver"]`)),
		chromedp.WaitVisible(C(`.log li.delivery .badge.redelivery ~ .badge.delivered`)),
	)
	redoText := get(t, ctx, chromedp.Text(C(`.log li.delivery`)))
	if !strings.Contains(redoText, "redelivery") || !strings.Contains(redoText, "delivered") {
		t.Errorf("log after Redeliver: %q, want a delivered redelivery first", redoText)
	}
	if got := get(t, ctx, chromedp.AttributeValue(C(`.log li.delivery`), "data-delivery")); got.Value != first.Value {
		t.Errorf("the redelivery's delivery ID: got %q, want the original's %q", got.Value, first.Value)
	}
	shot(t, ctx, "12-redelivered")

	// Recover since an hour ago: the two others are sent; the one already
	// redelivered is counted as sent, not sent again.
	// To the minute: Chromium reads "…:00" seconds back without them, and
	// SetValue fails when the value reads back otherwise (once a minute).
	hourAgo := time.Now().Add(-time.Hour).Format("2006-01-02T15:04")
	step(t, ctx, "recover",
		chromedp.SetValue(C(`.log input.since`), hourAgo),
		chromedp.Click(C(`.log button[data-action="recover"]`)),
		chromedp.WaitVisible(C(`.log .recovery .progress[data-state="done"]`)),
	)
	progress := get(t, ctx, chromedp.Text(C(`.log .recovery .progress`)))
	if !strings.HasSuffix(progress, "3 of 3 sent") {
		t.Errorf("recovery progress %q, want 3 of 3 sent", progress)
	}
	step(t, ctx, "health after the recovery", chromedp.WaitNotPresent(C(`tr.hook td.health .streak`)))
	if health := get(t, ctx, chromedp.Text(C(`tr.hook td.health`))); !strings.Contains(health, "% delivered in 24 h") {
		t.Errorf("health cell after the recovery %q, want a success rate", health)
	}
	shot(t, ctx, "13-recovered")

	time.Sleep(500 * time.Millisecond)
	per := map[string]int{}
	for _, h := range rc.Hits()[3:] {
		per[h.Header.Get(signature.HeaderID)]++
	}
	for _, ev := range events {
		id := ev + ":" + wh.ID
		if per[id] != 1 {
			t.Errorf("delivery %s: got %d requests after the outage, want 1", id, per[id])
		}
	}
}

// A disabled webhook on the page: the Disabled badge (not Inactive), the
// notice with the reason and the events not sent, Test fire while
// disabled, Re-enable, and the offered recovery of what was missed.
func TestDisabledNoticeInBrowser(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/api/", (&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys}).Handler())
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: "http://localhost:8233", Namespace: "default"}))
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	ws := "ui-" + uuid.NewString()[:8]
	tok := workspaceToken(t, ws)
	c := &apiClient{t: t, srv: site, ws: ws, token: tok}
	wh, rc, _ := disabledWebhook(t, c)
	ctx0, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 {
		r, err := pub.Publish(ctx0, workflowsInput(closedWonEvent(ws)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Wait(ctx0, ws, r.EventID); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var v stateView
		c.do("GET", c.hooks()+"/"+wh.ID, "", &v)
		if v.NotSentWhileDisabled != nil && *v.NotSentWhileDisabled == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not_sent_while_disabled: got %v, want 2", v.NotSentWhileDisabled)
		}
	}

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	step(t, ctx, "open the page",
		chromedp.Navigate(site.URL+"/settings/webhooks?workspace="+ws+"#token="+tok),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.WaitVisible(C(`tr.notice-row .notice.disabled`)),
		chromedp.WaitVisible(C(`.notice .not-sent`)),
	)
	if badge := get(t, ctx, chromedp.Text(C(`tr.hook td[data-label="State"] .badge`))); badge != "Disabled" {
		t.Errorf("state badge %q, want Disabled", badge)
	}
	notice := get(t, ctx, chromedp.Text(C(`.notice.disabled`)))
	for _, want := range []string{"Disabled by HARi", "3 deliveries failed in a row", "answered HTTP 410 Gone", "Check the path in the URL", "2 events not sent while disabled", "Test fire still works"} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice %q, want it to say %q", notice, want)
		}
	}
	if strings.Contains(notice, "attempt 1:") {
		t.Errorf("notice %q shows the raw error, want it only behind Technical details", notice)
	}
	shot(t, ctx, "14-disabled-notice")

	step(t, ctx, "test fire while disabled",
		chromedp.Click(C(`tr.hook button[data-action="test"]`)),
		chromedp.WaitVisible(C(`.panel [data-test="status"]`)),
	)
	if status := get(t, ctx, chromedp.Text(C(`.panel [data-test="status"]`))); !strings.Contains(status, "HTTP 200") {
		t.Errorf("test fire while disabled: %q, want HTTP 200", status)
	}

	step(t, ctx, "re-enable",
		chromedp.Click(C(`.notice button[data-action="reenable"]`)),
		chromedp.WaitVisible(C(`.notice button[data-action="recover-missed"]`)),
	)
	if badge := get(t, ctx, chromedp.Text(C(`tr.hook td[data-label="State"] .badge`))); badge != "Active" {
		t.Errorf("state badge after Re-enable %q, want Active", badge)
	}
	// The row was rebuilt under the Re-enable button: focus is on its menu.
	waitFor(t, ctx, "focus on the row's menu after Re-enable", `document.activeElement.dataset.action === "menu" && document.activeElement.closest("tr.hook") !== null`)
	shot(t, ctx, "15-reenabled-offer")
	step(t, ctx, "recover missed",
		chromedp.Click(C(`.notice button[data-action="recover-missed"]`)),
		chromedp.WaitVisible(C(`.log .recovery .progress[data-state="done"]`)),
	)
	if progress := get(t, ctx, chromedp.Text(C(`.log .recovery .progress`))); !strings.HasSuffix(progress, "5 of 5 sent") {
		t.Errorf("recovery progress %q, want 5 of 5 sent (3 failed, 2 not sent)", progress)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr.notice-row').length`)); n != 0 {
		t.Errorf("%d notices after the recovery started, want none", n)
	}
	shot(t, ctx, "16-recovered-after-reenable")
	per := map[string]int{}
	for _, h := range rc.Hits()[3:] {
		if id := h.Header.Get(signature.HeaderID); !strings.HasPrefix(id, "test-") {
			per[id]++
		}
	}
	if len(per) != 5 {
		t.Errorf("after re-enabling, the receiver got %d distinct deliveries, want 5", len(per))
	}
	for id, n := range per {
		if n != 1 {
			t.Errorf("delivery %s: got %d requests, want 1", id, n)
		}
	}
}
