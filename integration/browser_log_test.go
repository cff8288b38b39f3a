package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/settings"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/webhook"
)

// logSite serves the API and the page for one new workspace.
func logSite(t *testing.T) (*apiClient, string) {
	t.Helper()
	return logSiteWith(t, nil)
}

// logSiteWith is logSite with the API handler wrapped (a test that delays
// or fails some of its answers); nil wraps nothing.
func logSiteWith(t *testing.T, wrap func(http.Handler) http.Handler) (*apiClient, string) {
	t.Helper()
	var h http.Handler = (&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys, Bodies: tc, Pages: srv.Keys}).Handler()
	if wrap != nil {
		h = wrap(h)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", h)
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: "http://localhost:8233", Namespace: "default"}))
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	ws := "ui-" + uuid.NewString()[:8]
	tok := workspaceToken(t, ws)
	return &apiClient{t: t, srv: site, ws: ws, token: tok}, site.URL + "/settings/webhooks?workspace=" + ws + "#token=" + tok
}

// publishEnded publishes a Closed Won event through the API, waits until
// its workflow has ended and returns its event ID.
func publishEnded(t *testing.T, c *apiClient) string {
	t.Helper()
	id := publishOpp(t, c)
	waitEnded(t, c, id)
	return id
}

// waitEnded waits until the workflows of c's events ids have ended.
func waitEnded(t *testing.T, c *apiClient, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := pub.Wait(context.Background(), c.ws, id); err != nil {
			t.Fatal(err)
		}
	}
}

// publishOpp publishes a Closed Won event through the API and returns its
// event ID.
func publishOpp(t *testing.T, c *apiClient) string {
	t.Helper()
	var receipt struct {
		EventID string `json:"event_id"`
	}
	if code, b := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: got %d %s, want 202", code, b)
	}
	return receipt.EventID
}

// The open delivery log updates in place while a delivery is pending: a
// disclosure opened in one entry, and one opened in the pending entry
// itself, stay open (and focus stays) while the pending delivery fails
// once, waits for its retry and is delivered. Before, every change
// rebuilt every entry and closed them.
func TestDeliveryLogUpdatesInPlaceInBrowser(t *testing.T) {
	t.Parallel()
	// Request 1 (the first event) is answered at once. Request 2 (the
	// second event's first attempt) waits until the page shows it pending,
	// then fails with 503; request 3 (its retry) waits until the test has
	// opened the pending entry's disclosure, then answers.
	// A hold ends after 12 s (under HARi's 15 s cut) and counts as given
	// up: the test then fails, as the page did not show what it waited for.
	var seenPending, opened, gaveUp atomic.Bool
	hold := func(flag *atomic.Bool) {
		for deadline := time.Now().Add(12 * time.Second); !flag.Load(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				gaveUp.Store(true)
				return
			}
		}
	}
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 2:
			hold(&seenPending)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case 3:
			hold(&opened)
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	c, page := logSite(t)
	wh := createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	first := publishEnded(t, c)
	waitLogged(t, c, wh.ID, "", 1)

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	firstEntry := `.log li.delivery[data-delivery="` + first + `:` + wh.ID + `"]`
	step(t, ctx, "open the log and the first entry's request and response",
		chromedp.Navigate(page),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook button[data-action="log"]`)),
		chromedp.WaitVisible(C(firstEntry+`[data-status="delivered"] details.exchange summary`)),
		chromedp.Click(C(firstEntry+` details.exchange summary`)),
	)
	if !get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('`+firstEntry+` details.exchange').open`)) {
		t.Fatal("the first entry's Request and response did not open on click")
	}

	second := publishOpp(t, c)
	secondEntry := `.log li.delivery[data-delivery="` + second + `:` + wh.ID + `"]`
	// A log with nothing pending reads again every 12 s, as long as the
	// receiver can hold the attempt: close and open it to read it now (it
	// is updated in place, so the open disclosure stays open).
	step(t, ctx, "read the log again now",
		chromedp.Click(C(`tr.hook button[data-action="log"]`)),
		chromedp.Click(C(`tr.hook button[data-action="log"]`)))
	waitFor(t, ctx, "the second delivery pending on the page", `document.querySelector('`+secondEntry+`[data-status="pending"]') !== null`)
	seenPending.Store(true)
	waitFor(t, ctx, "the second delivery's failed first attempt", `document.querySelector('`+secondEntry+` tr.attempt details.exchange') !== null`)
	step(t, ctx, "open the pending entry's request and response",
		chromedp.Click(C(secondEntry+` tr.attempt details.exchange summary`)),
	)
	opened.Store(true)
	waitFor(t, ctx, "the second delivery delivered", `document.querySelector('`+secondEntry+`[data-status="delivered"]') !== null`)
	shot(t, ctx, "20-log-updated-in-place")

	if !get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('`+firstEntry+` details.exchange').open`)) {
		t.Errorf("first entry's Request and response: got closed after the other delivery changed, want still open")
	}
	if !get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('`+secondEntry+` tr.attempt details.exchange').open`)) {
		t.Errorf("pending entry's attempt 1 Request and response: got closed once it was delivered, want still open")
	}
	if got := get(t, ctx, chromedp.Evaluate[string](`(document.activeElement.closest('li.delivery') || {}).dataset ? document.activeElement.closest('li.delivery').dataset.delivery + ' ' + document.activeElement.tagName : document.activeElement.tagName`)); got != second+":"+wh.ID+" SUMMARY" {
		t.Errorf("focus after the update: got %q, want the pending entry's summary (%s:%s SUMMARY)", got, second, wh.ID)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+secondEntry+` tr.attempt').length`)); n != 2 {
		t.Errorf("second delivery's attempts on the page: got %d, want 2 (503, then 200)", n)
	}
	if gaveUp.Load() {
		t.Errorf("the receiver stopped waiting after 12 s: got no pending state (or no opened disclosure) on the page in time, want each shown while the attempt was held")
	}
}

// An action on one webhook leaves the others' rows alone: with a log
// open, its Request and response disclosure open and focus on it,
// Deactivate of ANOTHER webhook (through its menu) keeps that log's
// entries, the open disclosure and the log's row element.
func TestActionKeepsOtherOpenLogInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	c, page := logSite(t)
	var a, b view
	a = createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	b = createHook(t, c, strings.Replace(fmtURL(closedWon, rc.URL+"/other"), "Closed Won to ERP", "Other", 1))
	ev := publishEnded(t, c)
	waitLogged(t, c, a.ID, "", 1)

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	entry := `#log-` + a.ID + ` li.delivery[data-delivery="` + ev + `:` + a.ID + `"]`
	rowB := `tr.hook[data-id="` + b.ID + `"]`
	step(t, ctx, "open A's log and its entry's request and response",
		chromedp.Navigate(page),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook[data-id="`+a.ID+`"] button[data-action="log"]`)),
		chromedp.WaitVisible(C(entry+`[data-status="delivered"] details.exchange summary`)),
		chromedp.Click(C(entry+` details.exchange summary`)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("log-row-`+a.ID+`").dataset.mark = "before"`),
	)
	step(t, ctx, "deactivate B through its menu",
		chromedp.Click(C(rowB+` button[data-action="menu"]`)),
		chromedp.WaitVisible(C(`#menu-`+b.ID+` [data-action="toggle"]`)),
		chromedp.Click(C(`#menu-`+b.ID+` [data-action="toggle"]`)))
	waitFor(t, ctx, "B inactive", `(document.querySelector('`+rowB+` .badge') || {}).textContent === "Inactive"`)
	waitFor(t, ctx, "the list read again", `!document.body.dataset.loading`)
	if got := get(t, ctx, chromedp.Evaluate[string](`document.getElementById("log-row-`+a.ID+`").dataset.mark || "a new row"`)); got != "before" {
		t.Errorf("A's log row after B's Deactivate: got %s, want the same row (kept in place)", got)
	}
	if !get(t, ctx, chromedp.Evaluate[bool](`!!(document.querySelector('`+entry+` details.exchange') || {}).open`)) {
		t.Errorf("A's open Request and response after B's Deactivate: got closed, want still open")
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#log-`+a.ID+` li.delivery').length`)); n != 1 {
		t.Errorf("A's log entries after B's Deactivate: got %d, want 1", n)
	}
}

// waitLogged waits until the webhook's log (GET .../deliveries with the
// query) lists at least n deliveries.
func waitLogged(t *testing.T, c *apiClient, id, query string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		var got struct {
			Deliveries []json.RawMessage `json:"deliveries"`
		}
		code, b := c.do("GET", c.hooks()+"/"+id+"/deliveries?"+query, "", &got)
		if code == http.StatusOK && len(got.Deliveries) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s?%s: got %d %s, want %d deliveries within a minute", id, query, code, b, n)
		}
	}
}

// The page's log pages and filters through the server: with more
// deliveries than one page (10), Older shows the next page and Newer
// comes back; the status filter and the date filters narrow what the
// server lists.
func TestDeliveryLogPagesAndFiltersInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(signature.HeaderEvent) == "record.updated" {
			w.WriteHeader(http.StatusGone)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	c, page := logSite(t)
	wh := createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	var receipt struct {
		EventID string `json:"event_id"`
	}
	if code, b := c.do("POST", c.events(), updatedEvent(c.ws), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, b)
	}
	failed := receipt.EventID
	events := []string{failed}
	for range 11 {
		events = append(events, publishOpp(t, c))
	}
	waitEnded(t, c, events...)
	waitLogged(t, c, wh.ID, "page_size=100", 12)
	waitLogged(t, c, wh.ID, "status=failed", 1) // its outcome is searchable

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	shown := func() []string {
		return get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.log li.delivery')].map((li) => li.dataset.delivery)`))
	}
	step(t, ctx, "open the log",
		chromedp.Navigate(page),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook button[data-action="log"]`)),
		chromedp.WaitVisible(C(`.log .pager .count`)),
	)
	waitFor(t, ctx, "page 1 of 10", `document.querySelectorAll('.log li.delivery').length === 10`)
	// The Event filter speaks the catalog's words (as the form does), and
	// filters on the type.
	var want []string
	for _, e := range webhook.Events {
		want = append(want, string(e.Type)+"="+e.Label)
	}
	if got := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.log [data-filter="type"] option')].filter((o) => o.value).map((o) => o.value + "=" + o.textContent)`)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the log's Event filter: got %q, want the catalog's labels %q", got, want)
	}
	first := shown()
	step(t, ctx, "older", chromedp.Click(C(`.log .pager button[data-action="older"]`)))
	waitFor(t, ctx, "page 2 with the other 2", `document.querySelectorAll('.log li.delivery').length === 2`)
	second := shown()
	seen := map[string]bool{}
	for _, d := range append(append([]string{}, first...), second...) {
		if seen[d] {
			t.Errorf("delivery %s shown on both pages, want each once", d)
		}
		seen[d] = true
	}
	for _, id := range events {
		if !seen[id+":"+wh.ID] {
			t.Errorf("delivery %s:%s on neither page, want each of the 12 on one", id, wh.ID)
		}
	}
	if !get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('.log .pager button[data-action="older"]').disabled`)) {
		t.Errorf("Older on the last page: got enabled, want disabled")
	}
	shot(t, ctx, "21-log-page-2")
	step(t, ctx, "newer", chromedp.Click(C(`.log .pager button[data-action="newer"]`)))
	waitFor(t, ctx, "page 1 again", `document.querySelectorAll('.log li.delivery').length === 10`)
	if got := shown(); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Errorf("page 1 after Newer: got %v, want %v", got, first)
	}

	set := func(name, sel, value string) {
		t.Helper()
		step(t, ctx, "filter "+name, chromedp.SetValue(C(`.log [data-filter="`+sel+`"]`), value),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('.log [data-filter="`+sel+`"]').dispatchEvent(new Event("change"))`))
	}
	set("failed", "status", "failed")
	waitFor(t, ctx, "only the failed delivery", `document.querySelectorAll('.log li.delivery').length === 1`)
	if got := shown(); len(got) != 1 || got[0] != failed+":"+wh.ID {
		t.Errorf("status failed: got %v, want only %s:%s", got, failed, wh.ID)
	}
	shot(t, ctx, "22-log-filter-failed")
	set("any status", "status", "")
	today := time.Now().Format("2006-01-02")
	tomorrow := time.Now().AddDate(0, 0, 1).Format("2006-01-02")
	yesterday := time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	set("from tomorrow", "since", tomorrow)
	waitFor(t, ctx, "nothing from tomorrow", `document.querySelector('.log .pager .count').textContent === "No deliveries match these filters." && document.querySelectorAll('.log li.delivery').length === 0`)
	set("from today", "since", today)
	waitFor(t, ctx, "today's deliveries", `document.querySelectorAll('.log li.delivery').length === 10 && !document.querySelector('.log .pager button[data-action="older"]').disabled`)
	set("to yesterday", "until", yesterday)
	waitFor(t, ctx, "nothing from today to yesterday, and why", `document.querySelectorAll('.log li.delivery').length === 0 && (document.querySelector('.log .log-error') || {}).textContent === "Error: Pick a “To” date on or after the “From” date."`)
	set("from yesterday", "since", yesterday)
	set("to today", "until", today)
	waitFor(t, ctx, "today's deliveries again", `document.querySelectorAll('.log li.delivery').length === 10`)
}

// Test fire's Response tab shows the response's headers (kept with the
// result), with the status line and the body.
func TestTestFireShowsResponseHeadersInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Receiver-Trace", "trace-4242")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"queued":true}`))
	})
	c, page := logSite(t)
	createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	step(t, ctx, "test fire",
		chromedp.Navigate(page),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook button[data-action="test"]`)),
		chromedp.WaitVisible(C(`.panel [data-test="test-response-headers"]`)),
	)
	shot(t, ctx, "23-test-fire-response-headers")
	if status := get(t, ctx, chromedp.Text(C(`.panel [data-test="status"]`))); !strings.Contains(status, "HTTP 202") {
		t.Errorf("status line: got %q, want HTTP 202", status)
	}
	heads := get(t, ctx, chromedp.Text(C(`.panel [data-test="test-response-headers"]`)))
	for _, want := range []string{"X-Receiver-Trace", "trace-4242", "Content-Type", "application/json"} {
		if !strings.Contains(heads, want) {
			t.Errorf("response headers shown: got %q, want %q among them", heads, want)
		}
	}
	if body := get(t, ctx, chromedp.TextContent(C(`.panel [data-test="body"]`))); body != `{"queued":true}` {
		t.Errorf("response body shown: got %q, want the receiver's", body)
	}
	// The kept result (after a reload) still has them.
	step(t, ctx, "reload",
		chromedp.Reload(),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.WaitVisible(C(`.panel [data-test="test-response-headers"]`)),
	)
	if heads := get(t, ctx, chromedp.Text(C(`.panel [data-test="test-response-headers"]`))); !strings.Contains(heads, "trace-4242") {
		t.Errorf("response headers after a reload: got %q, want trace-4242 among them", heads)
	}
}

// The log asks for the body of each delivery that sent one, asks again
// after a failed read (it is not kept), and never asks for the body of a
// skipped delivery (nothing was sent).
func TestDeliveryLogBodyReadsInBrowser(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	reads := map[string]int{} // delivery ID -> body requests
	failFirst := true
	mux := http.NewServeMux()
	apiHandler := (&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys, Bodies: tc, Pages: srv.Keys}).Handler()
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/body") {
			parts := strings.Split(r.URL.Path, "/")
			id := parts[len(parts)-2]
			mu.Lock()
			reads[id]++
			fail := failFirst
			failFirst = false
			mu.Unlock()
			if fail {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"the webhook service is unavailable; try again"}}`))
				return
			}
		}
		apiHandler.ServeHTTP(w, r)
	}))
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: "http://localhost:8233", Namespace: "default"}))
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	ws := "ui-" + uuid.NewString()[:8]
	tok := workspaceToken(t, ws)
	c := &apiClient{t: t, srv: site, ws: ws, token: tok}
	// Three failed deliveries disable the webhook; two more events are
	// then skipped.
	wh, _, _ := disabledWebhook(t, c)
	var skipped []string
	for range 2 {
		id := publishOpp(t, c)
		if _, err := pub.Wait(context.Background(), ws, id); err != nil {
			t.Fatal(err)
		}
		skipped = append(skipped, id+":"+wh.ID)
	}
	waitLogged(t, c, wh.ID, "status=skipped", 2)
	waitLogged(t, c, wh.ID, "", 5)

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	step(t, ctx, "open the log",
		chromedp.Navigate(site.URL+"/settings/webhooks?workspace="+ws+"#token="+tok),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook button[data-action="log"]`)),
		chromedp.WaitVisible(C(`.log li.delivery[data-status="skipped"]`)),
	)
	// The first read failed; the next refresh (12 s) asks again and the
	// record's name appears on every failed delivery.
	waitFor(t, ctx, "every sent delivery titled by its record", `[...document.querySelectorAll('.log li.delivery[data-status="failed"] .record-title')].filter((e) => e.textContent === "Jane Smith · opp-42").length === 3`)
	// A skipped delivery sent no body: its title comes from its event.
	waitFor(t, ctx, "every skipped delivery titled by its event's record", `[...document.querySelectorAll('.log li.delivery[data-status="skipped"] .record-title')].filter((e) => e.textContent === "Acme renewal · opp-9").length === 2`)
	shot(t, ctx, "24-log-skipped-and-failed")
	mu.Lock()
	defer mu.Unlock()
	retried := false
	for id, n := range reads {
		retried = retried || n >= 2
		for _, s := range skipped {
			if id == s {
				t.Errorf("skipped delivery %s: got %d body requests, want none", s, n)
			}
		}
	}
	if len(reads) != 3 {
		t.Errorf("deliveries whose body was asked for: got %d (%v), want the 3 that were sent", len(reads), reads)
	}
	if !retried {
		t.Errorf("body requests %v: want the failed first read asked again", reads)
	}
}

// A status filter can answer an empty page with a next page token (the
// server read a few visibility pages of events whose delivery to this
// webhook has another outcome): the page says so and keeps Older, which
// finds the older match. Here 40 events are partial (this webhook
// delivered, another failed), and the oldest one failed here too.
func TestDeliveryLogEmptyPageKeepsOlderInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/other") || r.Header.Get(signature.HeaderEvent) == "record.updated" {
			w.WriteHeader(http.StatusGone)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	c, page := logSite(t)
	var wh, other view
	wh = createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	other = createHook(t, c, strings.Replace(fmtURL(closedWon, rc.URL+"/other"), "Closed Won to ERP", "Other", 1))
	var receipt struct {
		EventID string `json:"event_id"`
	}
	if code, b := c.do("POST", c.events(), updatedEvent(c.ws), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, b)
	}
	failed := receipt.EventID
	if _, err := pub.Wait(context.Background(), c.ws, failed); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the failed event is the oldest by its close time too
	events := []string{}
	for range 40 {
		events = append(events, publishOpp(t, c))
	}
	waitEnded(t, c, events...)
	waitLogged(t, c, wh.ID, "page_size=100", 41)
	waitLogged(t, c, other.ID, "status=failed&page_size=100", 41) // every outcome is searchable
	var first logPage
	if code, b := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries?status=failed&page_size=10", "", &first); code != http.StatusOK || len(first.Deliveries) != 0 || first.NextPageToken == "" {
		t.Fatalf("status=failed page 1: got %d %s, want 200 with no entry and a next_page_token (the case this test is about)", code, b)
	}

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	row := `tr.hook[data-id="` + wh.ID + `"]`
	log := `#log-` + wh.ID
	step(t, ctx, "open the log", chromedp.Navigate(page), chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(row+` button[data-action="log"]`)), chromedp.WaitVisible(C(log+` .pager .count`)))
	step(t, ctx, "filter failed", chromedp.SetValue(C(log+` [data-filter="status"]`), "failed"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+log+` [data-filter="status"]').dispatchEvent(new Event("change"))`))
	waitFor(t, ctx, "the empty first page that says older ones may match", `document.querySelector('`+log+` .pager .count').textContent === "None on this page; older ones may match." && document.querySelectorAll('`+log+` li.delivery').length === 0`)
	if get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('`+log+` .pager button[data-action="older"]').disabled`)) {
		t.Fatalf("Older on an empty page with more to read: got disabled, want enabled")
	}
	shot(t, ctx, "23-log-empty-page-older")
	step(t, ctx, "older", chromedp.Click(C(log+` .pager button[data-action="older"]`)))
	waitFor(t, ctx, "the older failed delivery", `[...document.querySelectorAll('`+log+` li.delivery')].map((li) => li.dataset.delivery).join() === "`+failed+`:`+wh.ID+`"`)
}
