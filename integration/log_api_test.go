package integration

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
)

// logPage is the log route's answer.
type logPage struct {
	Deliveries []struct {
		EventID   string    `json:"event_id"`
		EventType string    `json:"event_type"`
		StartedAt time.Time `json:"started_at"`
		Delivery  struct {
			Status string `json:"status"`
		} `json:"delivery"`
	} `json:"deliveries"`
	NextPageToken string `json:"next_page_token"`
}

// updatedEvent is oppEvent as a record.updated event.
func updatedEvent(ws string) string {
	return strings.Replace(oppEvent(ws, "Closed Won"), `"event": "stage.changed"`, `"event": "record.updated"`, 1)
}

// The log route's filters and pages run in Temporal visibility, over every
// delivery of the webhook (not only the most recent): status, event_type,
// since, until, page_size and page_token each narrow or page the list as
// documented, and a bad value of each is a 400 naming it.
func TestDeliveryLogFiltersAndPagesOnTheServer(t *testing.T) {
	t.Parallel()
	// record.updated deliveries fail for good (410); stage.changed ones
	// are delivered.
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(signature.HeaderEvent) == "record.updated" {
			w.WriteHeader(http.StatusGone)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	c := newAPI(t)
	var wh view
	if code, b := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, b)
	}
	publish := func(body string) string {
		var receipt struct {
			EventID string `json:"event_id"`
		}
		if code, b := c.do("POST", c.events(), body, &receipt); code != http.StatusAccepted {
			t.Fatalf("publish: got %d %s, want 202", code, b)
		}
		if _, err := pub.Wait(context.Background(), c.ws, receipt.EventID); err != nil {
			t.Fatal(err)
		}
		return receipt.EventID
	}
	// Three events (one fails), then a boundary, then two more (one fails).
	var early, late []string
	for _, body := range []string{oppEvent(c.ws, "Closed Won"), updatedEvent(c.ws), oppEvent(c.ws, "Closed Won")} {
		early = append(early, publish(body))
	}
	time.Sleep(1100 * time.Millisecond) // StartTime has millisecond precision; keep the boundary clear of both sides
	boundary := time.Now().UTC()
	time.Sleep(1100 * time.Millisecond)
	for _, body := range []string{updatedEvent(c.ws), oppEvent(c.ws, "Closed Won")} {
		late = append(late, publish(body))
	}
	// Visibility records an event's outcome when its workflow closes,
	// shortly after: wait until both outcomes are searchable.
	waitLogged(t, c, wh.ID, "status=failed", 2)
	waitLogged(t, c, wh.ID, "status=delivered", 3)

	logOf := func(query string) logPage {
		t.Helper()
		var p logPage
		if code, b := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries?"+query, "", &p); code != http.StatusOK {
			t.Fatalf("GET deliveries?%s: got %d %s, want 200", query, code, b)
		}
		return p
	}
	ids := func(p logPage) []string {
		var out []string
		for _, d := range p.Deliveries {
			out = append(out, d.EventID)
		}
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got events %v, want %v (newest first)", what, got, want)
		}
	}
	all := []string{late[1], late[0], early[2], early[1], early[0]}
	same("no filter", ids(logOf("")), all)

	// Pages of 2: three pages, each continuing where the last ended.
	var paged []string
	token := ""
	for pageNo := 1; ; pageNo++ {
		q := "page_size=2"
		if token != "" {
			q += "&page_token=" + url.QueryEscape(token)
		}
		p := logOf(q)
		if len(p.Deliveries) > 2 {
			t.Fatalf("page %d: got %d entries, want at most page_size 2", pageNo, len(p.Deliveries))
		}
		paged = append(paged, ids(p)...)
		token = p.NextPageToken
		if token == "" || pageNo > 5 {
			break
		}
	}
	same("pages of 2, followed to the end", paged, all)

	// A page token is bound to its webhook: another webhook's log refuses it.
	var other view
	if code, b := c.do("POST", c.hooks(), strings.Replace(fmtURL(closedWon, rc.URL+"/other"), "Closed Won to ERP", "Other", 1), &other); code != http.StatusCreated {
		t.Fatalf("create another: %d %s", code, b)
	}
	if tok := logOf("page_size=2").NextPageToken; tok == "" {
		t.Errorf("page 1 of 2: got no next_page_token, want one")
	} else {
		var e apiError
		if code, b := c.do("GET", c.hooks()+"/"+other.ID+"/deliveries?page_token="+url.QueryEscape(tok), "", &e); code != http.StatusBadRequest || e.Error.Field != "page_token" {
			t.Errorf("another webhook's page token: got %d %s, want 400 naming page_token", code, b)
		}
	}

	// ... and to its filters: a token of the unfiltered log used with a
	// status, event type or date is refused (it continues another query).
	if tok := logOf("page_size=2").NextPageToken; tok != "" {
		for _, filter := range []string{"status=delivered", "event_type=stage.changed", "since=" + url.QueryEscape(boundary.Format(time.RFC3339Nano)), "until=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))} {
			var e apiError
			if code, b := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries?page_size=2&"+filter+"&page_token="+url.QueryEscape(tok), "", &e); code != http.StatusBadRequest || e.Error.Field != "page_token" {
				t.Errorf("the unfiltered log's page token with %s: got %d %s, want 400 naming page_token", filter, code, b)
			}
		}
		// The same filters (another page size) take it.
		if code, b := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries?page_size=3&page_token="+url.QueryEscape(tok), "", nil); code != http.StatusOK {
			t.Errorf("the unfiltered log's page token, unfiltered: got %d %s, want 200", code, b)
		}
	}
	// A filtered log's pages follow with their filters.
	var pagedDelivered []string
	if p := logOf("status=delivered&page_size=2"); p.NextPageToken == "" {
		t.Errorf("status=delivered page 1 of 2: got no next_page_token, want one (3 delivered)")
	} else {
		pagedDelivered = append(ids(p), ids(logOf("status=delivered&page_size=2&page_token="+url.QueryEscape(p.NextPageToken)))...)
	}
	same("status=delivered in pages of 2", pagedDelivered, []string{late[1], early[2], early[0]})

	same("status=failed", ids(logOf("status=failed")), []string{late[0], early[1]})
	same("status=delivered", ids(logOf("status=delivered")), []string{late[1], early[2], early[0]})
	same("status=pending", ids(logOf("status=pending")), nil)
	same("event_type=record.updated", ids(logOf("event_type=record.updated")), []string{late[0], early[1]})
	same("event_type=stage.changed&status=delivered", ids(logOf("event_type=stage.changed&status=delivered")), []string{late[1], early[2], early[0]})
	at := url.QueryEscape(boundary.Format(time.RFC3339Nano))
	same("since=boundary", ids(logOf("since="+at)), []string{late[1], late[0]})
	same("until=boundary", ids(logOf("until="+at)), []string{early[2], early[1], early[0]})
	same("since and until around the late events", ids(logOf("since="+at+"&until="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)))), []string{late[1], late[0]})
	same("limit (the older name of page_size)", ids(logOf("limit=1")), all[:1])

	// Bad values: a 400 naming the parameter; the query never sees them.
	for _, tc := range []struct{ query, field string }{
		{"status=lost", "status"},
		{"status=delivered'%20OR%20'1'='1", "status"},
		{"event_type=record.made", "event_type"},
		{"event_type=stage.changed'%20OR%20HariWorkspace%20!=%20'", "event_type"},
		{"since=yesterday", "since"},
		{"since=2026-03-31", "since"},
		{"until=31%2F03%2F2026", "until"},
		{"since=2026-03-31T10:00:00Z&until=2026-03-31T09:00:00Z", "until"},
		{"page_size=0", "page_size"},
		{"page_size=101", "page_size"},
		{"page_size=ten", "page_size"},
		{"limit=-1", "limit"},
		{"page_token=!!!", "page_token"},
		{"page_token=" + base64.RawURLEncoding.EncodeToString([]byte("not a token")), "page_token"},
	} {
		var e apiError
		code, b := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries?"+tc.query, "", &e)
		if code != http.StatusBadRequest || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.field) {
			t.Errorf("?%s: got %d %s, want 400 naming %s", tc.query, code, b, tc.field)
		}
	}
}

// callCounter is a client.Client that counts the calls a log read makes
// to Temporal: the list, and the reads of each event's outcome.
type callCounter struct {
	client.Client
	lists, reads atomic.Int64
}

func (c *callCounter) ListWorkflow(ctx context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	c.lists.Add(1)
	return c.Client.ListWorkflow(ctx, r)
}

func (c *callCounter) DescribeWorkflowExecution(ctx context.Context, id, run string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	c.reads.Add(1)
	return c.Client.DescribeWorkflowExecution(ctx, id, run)
}

func (c *callCounter) QueryWorkflow(ctx context.Context, id, run, query string, args ...interface{}) (converter.EncodedValue, error) {
	c.reads.Add(1)
	return c.Client.QueryWorkflow(ctx, id, run, query, args...)
}

func (c *callCounter) GetWorkflow(ctx context.Context, id, run string) client.WorkflowRun {
	c.reads.Add(1)
	return c.Client.GetWorkflow(ctx, id, run)
}

// Refreshing a page of ended deliveries costs one list call: their
// outcomes cannot change and are read once (issue 13 review item 9: a
// refresh every 2 s used to cost about 3 calls per entry).
func TestDeliveryLogRefreshReadsEndedDeliveriesOnce(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	c := newAPI(t)
	wh := createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))
	for range 3 {
		publishEnded(t, c)
	}
	waitLogged(t, c, wh.ID, "status=delivered", 3)
	counter := &callCounter{Client: tc}
	p := publisher.New(counter, publisher.Options{DataConverter: codec.DataConverter(srv.Keys)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := p.DeliveriesPage(ctx, c.ws, wh.ID, publisher.LogQuery{PageSize: 10})
	if err != nil || len(first.Entries) != 3 {
		t.Fatalf("first read: got %d entries, %v; want 3", len(first.Entries), err)
	}
	if counter.reads.Load() == 0 {
		t.Fatalf("first read: got 0 reads of outcomes, want the 3 events read")
	}
	lists, reads := counter.lists.Load(), counter.reads.Load()
	again, err := p.DeliveriesPage(ctx, c.ws, wh.ID, publisher.LogQuery{PageSize: 10})
	if err != nil || len(again.Entries) != 3 {
		t.Fatalf("refresh: got %d entries, %v; want 3", len(again.Entries), err)
	}
	if got := counter.lists.Load() - lists; got != 1 {
		t.Errorf("refresh: got %d list calls, want 1", got)
	}
	if got := counter.reads.Load() - reads; got != 0 {
		t.Errorf("refresh: got %d reads of ended outcomes, want 0 (kept from the first read)", got)
	}
	for i := range again.Entries {
		if g, w := again.Entries[i].Delivery.Status, first.Entries[i].Delivery.Status; g != w || g != "delivered" {
			t.Errorf("entry %d on refresh: got %s, want %s as first read (delivered)", i, g, w)
		}
	}
}

// The log shows the headers a delivery's attempt sent, as recorded with
// the attempt: changing the webhook's secret settings afterwards does not
// change them (they used to be rebuilt from the current settings), and
// they include Content-Length and Host, with the secret and signatures
// redacted.
func TestDeliveryLogShowsTheRequestAsSent(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	c := newAPI(t)
	spec := fmtURL(closedWon, rc.URL+"/erp")
	wh := createHook(t, c, spec)
	publishEnded(t, c)
	hit := rc.WaitHits(t, 1, 30*time.Second)[0]
	// Now send only signatures, not the secret itself.
	noSecretHeader := strings.Replace(spec, `"fields"`, `"secret_header": false, "fields"`, 1)
	if code, b := c.do("PUT", c.hooks()+"/"+wh.ID, noSecretHeader, nil); code != http.StatusOK {
		t.Fatalf("update: %d %s", code, b)
	}
	waitLogged(t, c, wh.ID, "", 1)
	var log struct {
		Deliveries []struct {
			Requests        [][]struct{ Name, Value string } `json:"requests"`
			RequestsRebuilt []bool                           `json:"requests_rebuilt"`
		} `json:"deliveries"`
	}
	if code, b := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries", "", &log); code != http.StatusOK || len(log.Deliveries) != 1 || len(log.Deliveries[0].Requests) != 1 {
		t.Fatalf("log: got %d %s, want one delivery with one attempt", code, b)
	}
	if log.Deliveries[0].RequestsRebuilt[0] {
		t.Errorf("requests_rebuilt: got true, want false (recorded when sent)")
	}
	shown := map[string]string{}
	for _, h := range log.Deliveries[0].Requests[0] {
		shown[h.Name] = h.Value
	}
	want := map[string]string{
		"Content-Length":          strconv.Itoa(len(hit.Body)),
		"Host":                    strings.TrimPrefix(rc.URL, "https://"),
		signature.HeaderSecret:    "(secret: not kept in the log)",
		signature.HeaderSignature: "(signature: not kept in the log)",
		signature.HeaderID:        hit.Header.Get(signature.HeaderID),
		"Webhook-Timestamp":       hit.Header.Get("Webhook-Timestamp"),
	}
	for k, v := range want {
		if shown[k] != v {
			t.Errorf("request header %s in the log: got %q, want %q (as sent)", k, shown[k], v)
		}
	}
	for k := range hit.Header {
		if _, ok := shown[k]; !ok {
			t.Errorf("header %s reached the receiver but the log does not show it", k)
		}
	}
}

// An event's status in visibility stays pending until every one of its
// deliveries ends; a webhook whose delivery has ended is still listed
// under Delivered or Failed while another webhook of the same event is
// being retried.
func TestDeliveryLogStatusFiltersWhileTheEventRuns(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hold := devtest.NewReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ok := devtest.NewReceiver(t, nil)
	gone := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	c := newAPI(t)
	create := func(name, url string) view {
		t.Helper()
		var v view
		spec := strings.Replace(fmtURL(closedWon, url), "Closed Won to ERP", name, 1)
		if code, b := c.do("POST", c.hooks(), spec, &v); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, code, b)
		}
		return v
	}
	slow, fast, failing := create("Held", hold.URL+"/erp"), create("Answers at once", ok.URL+"/erp"), create("Gone", gone.URL+"/erp")
	var receipt struct {
		EventID string `json:"event_id"`
	}
	if code, b := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: got %d %s, want 202", code, b)
	}
	// The held webhook's attempts are each cut at 15 s and retried: the
	// event runs for about a minute, well past these waits.
	waitLogged(t, c, fast.ID, "status=delivered", 1)
	waitLogged(t, c, failing.ID, "status=failed", 1)
	for _, tc := range []struct {
		hook         view
		query, state string
	}{
		{fast, "status=delivered", "delivered"},
		{failing, "status=failed", "failed"},
		{slow, "status=pending", "pending"},
		{fast, "status=pending", ""},
		{slow, "status=delivered", ""},
	} {
		var p logPage
		if code, b := c.do("GET", c.hooks()+"/"+tc.hook.ID+"/deliveries?"+tc.query, "", &p); code != http.StatusOK {
			t.Fatalf("%s ?%s: got %d %s, want 200", tc.hook.Name, tc.query, code, b)
		}
		var got []string
		for _, d := range p.Deliveries {
			got = append(got, d.EventID+" "+d.Delivery.Status)
		}
		want := []string{}
		if tc.state != "" {
			want = []string{receipt.EventID + " " + tc.state}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s ?%s while the event runs: got %v, want %v", tc.hook.Name, tc.query, got, want)
		}
	}
}
