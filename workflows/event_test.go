package workflows

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/signature"
)

// scripted is an HTTPS receiver that answers call n with codes[n] (the last
// code repeats). A code of 0 hangs until the client gives up.
type scripted struct {
	srv   *httptest.Server
	mu    sync.Mutex
	codes []int
	got   []*http.Request
	body  [][]byte
	at    []time.Time
}

func newScripted(t *testing.T, codes ...int) *scripted {
	t.Helper()
	s := &scripted{codes: codes}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.got)
		s.got = append(s.got, r)
		s.body = append(s.body, b)
		s.at = append(s.at, time.Now())
		code := s.codes[min(n, len(s.codes)-1)]
		s.mu.Unlock()
		if code == 0 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// hitAt is when call n arrived.
func (s *scripted) hitAt(n int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[n]
}

func (s *scripted) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func tlsClient(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return activities.NewHTTPClient(activities.ClientOptions{TLS: &tls.Config{RootCAs: pool}})
}

func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr + "/hook"
}

func testEvent() event.Event {
	return event.Event{
		ID:        "evt-1",
		Type:      event.StageChanged,
		Entity:    "opportunity",
		Timestamp: "2026-03-31T14:30:00Z",
		Workspace: "acme",
		Record:    event.Values(map[string]any{"id": "opp-1", "name": "Big deal", "amount": 5000.0}),
		Changes:   map[string]event.Change{"stage": event.ChangeOf("qualification", "proposal")},
	}
}

func run(t *testing.T, acts *activities.Activities, in EventInput) (EventResult, *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	acts.Workflows = envQuerier{env}
	env.RegisterActivity(acts)
	env.ExecuteWorkflow(EventWorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res, env
}

func TestEventWorkflowPaths(t *testing.T) {
	tests := []struct {
		name       string
		codes      []int // nil: a closed port
		wantStatus string
		wantCalls  int
		wantCodes  []int
		wantClass  delivery.Class
	}{
		{name: "2xx at once", codes: []int{204}, wantStatus: StatusDelivered, wantCalls: 1, wantCodes: []int{204}},
		{name: "500 three times then 200", codes: []int{500, 500, 500, 200}, wantStatus: StatusDelivered, wantCalls: 4, wantCodes: []int{500, 500, 500, 200}},
		{name: "500 four times", codes: []int{500}, wantStatus: StatusFailed, wantCalls: 4, wantCodes: []int{500, 500, 500, 500}},
		{name: "404 is final", codes: []int{404}, wantStatus: StatusFailed, wantCalls: 1, wantCodes: []int{404}},
		{name: "410 is final", codes: []int{410, 200}, wantStatus: StatusFailed, wantCalls: 1, wantCodes: []int{410}},
		{name: "408 retries", codes: []int{408, 200}, wantStatus: StatusDelivered, wantCalls: 2, wantCodes: []int{408, 200}},
		{name: "429 retries", codes: []int{429, 429, 200}, wantStatus: StatusDelivered, wantCalls: 3, wantCodes: []int{429, 429, 200}},
		{name: "302 is a failed attempt, not followed", codes: []int{302, 200}, wantStatus: StatusDelivered, wantCalls: 2, wantCodes: []int{302, 200}},
		{name: "404 after 500 stops", codes: []int{500, 404, 200}, wantStatus: StatusFailed, wantCalls: 2, wantCodes: []int{500, 404}},
		{name: "timeout every time", codes: []int{0}, wantStatus: StatusFailed, wantCalls: 4, wantClass: delivery.ClassTimeout},
		{name: "timeout then 200", codes: []int{0, 200}, wantStatus: StatusDelivered, wantCalls: 2},
		{name: "connection refused", codes: nil, wantStatus: StatusFailed, wantClass: delivery.ClassConnectionRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var url string
			var rcv *scripted
			var client *http.Client
			if tt.codes == nil {
				url = closedPortURL(t)
				client = activities.NewHTTPClient(activities.ClientOptions{})
			} else {
				rcv = newScripted(t, tt.codes...)
				url = rcv.srv.URL + "/hook"
				client = tlsClient(t, rcv.srv)
			}
			acts := &activities.Activities{AllowDirectSecrets: true, Client: client, AttemptTimeout: 300 * time.Millisecond}
			res, _ := run(t, acts, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: url, Secret: "s3cret"}}})

			if len(res.Deliveries) != 1 {
				t.Fatalf("got %d deliveries, want 1", len(res.Deliveries))
			}
			d := res.Deliveries[0]
			if d.Status != tt.wantStatus {
				t.Errorf("status: got %s, want %s (error %q)", d.Status, tt.wantStatus, d.Error)
			}
			if rcv != nil && rcv.calls() != tt.wantCalls {
				t.Errorf("receiver calls: got %d, want %d", rcv.calls(), tt.wantCalls)
			}
			wantAttempts := tt.wantCalls
			if tt.codes == nil {
				wantAttempts = delivery.MaxAttempts
			}
			if len(d.Attempts) != wantAttempts {
				t.Fatalf("attempts recorded: got %d, want %d: %+v", len(d.Attempts), wantAttempts, d.Attempts)
			}
			for i, att := range d.Attempts {
				if att.Number != i+1 {
					t.Errorf("attempt %d numbered %d", i+1, att.Number)
				}
				if tt.wantCodes != nil && att.StatusCode != tt.wantCodes[i] {
					t.Errorf("attempt %d status: got %d, want %d", i+1, att.StatusCode, tt.wantCodes[i])
				}
				if tt.wantClass != "" && att.Class != tt.wantClass {
					t.Errorf("attempt %d class: got %q, want %q (%s)", i+1, att.Class, tt.wantClass, att.Error)
				}
				if att.StartedAt.IsZero() {
					t.Errorf("attempt %d has no start time", i+1)
				}
			}
			if rcv != nil {
				for i, r := range rcv.got {
					if got := r.Header.Get(signature.HeaderAttempt); got != itoa(i+1) {
						t.Errorf("call %d: X-Webhook-Attempt %q, want %d", i+1, got, i+1)
					}
					if got := r.Header.Get(signature.HeaderID); got != "evt-1:wh1" {
						t.Errorf("call %d: X-Webhook-Id %q, want evt-1:wh1", i+1, got)
					}
					if !signature.Verify("s3cret", rcv.body[i], r.Header.Get(signature.HeaderSignature)) {
						t.Errorf("call %d: signature does not verify", i+1)
					}
					if string(rcv.body[i]) != string(rcv.body[0]) {
						t.Errorf("call %d: body differs from the first attempt's", i+1)
					}
				}
			}
		})
	}
}

// envQuerier answers DeliverWebhook's body query from the test
// environment's running workflow, as the worker's client does on a server.
// The test environment runs a query on the caller's goroutine: use it only
// where the workflow is blocked while the activity runs (one delivery).
type envQuerier struct {
	env *testsuite.TestWorkflowEnvironment
}

func (q envQuerier) QueryWorkflow(_ context.Context, _, _, queryType string, args ...any) (converter.EncodedValue, error) {
	return q.env.QueryWorkflow(queryType, args...)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestEventWorkflowDeliversEachTargetSeparately(t *testing.T) {
	ok := newScripted(t, 200)
	bad := newScripted(t, 404)
	pool := x509.NewCertPool()
	pool.AddCert(ok.srv.Certificate())
	pool.AddCert(bad.srv.Certificate())
	acts := &activities.Activities{Client: activities.NewHTTPClient(activities.ClientOptions{TLS: &tls.Config{RootCAs: pool}})}
	res, _ := run(t, acts, EventInput{Event: testEvent(), Targets: []endpoint.Target{
		{ID: "good", URL: ok.srv.URL, Fields: []string{"name"}},
		{ID: "bad", URL: bad.srv.URL},
		{ID: "plain", URL: "http://example.com/hook"},
	}})
	got := map[string]string{}
	for _, d := range res.Deliveries {
		got[d.WebhookID] = d.Status
	}
	want := map[string]string{"good": StatusDelivered, "bad": StatusFailed, "plain": StatusFailed}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %s, want %s", k, got[k], v)
		}
	}
	if !strings.Contains(res.Deliveries[2].Error, "https") {
		t.Errorf("http:// target error %q does not explain the https rule", res.Deliveries[2].Error)
	}
	var body map[string]any
	if err := json.Unmarshal(ok.body[0], &body); err != nil {
		t.Fatal(err)
	}
	rec := body["record"].(map[string]any)
	if len(rec) != 2 || rec["id"] != "opp-1" || rec["name"] != "Big deal" {
		t.Errorf("selected record: got %v, want only id and name", rec)
	}
}

func TestEventWorkflowRejectsInvalidEvent(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	ev := testEvent()
	ev.Type = "record.exploded"
	env.ExecuteWorkflow(EventWorkflowName, EventInput{Event: ev})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Fatalf("got %v, want an unknown event type error", err)
	}
}

// At the limit, attempt 1 is not made by the local activity: the
// delivery waits for a slot in DeliverWebhook, and its attempts are still
// numbered from 1 with none spent on waiting.
func TestEventWorkflowWaitsForSlotWithoutSpendingAttempts(t *testing.T) {
	rc := newScripted(t, 500, 200)
	full := &fullLimiter{refuseFirst: 1}
	acts := &activities.Activities{Client: tlsClient(t, rc.srv), Limiter: full}
	res, _ := run(t, acts, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	d := res.Deliveries[0]
	if d.Status != StatusDelivered || len(d.Attempts) != 2 || rc.calls() != 2 {
		t.Fatalf("got %s with %d attempts and %d calls, want delivered after 2 attempts", d.Status, len(d.Attempts), rc.calls())
	}
	if d.Attempts[0].Number != 1 || d.Attempts[0].StatusCode != 500 || d.Attempts[1].Number != 2 {
		t.Errorf("attempts %+v, want #1 500 and #2 200", d.Attempts)
	}
	if full.tries == 0 || full.waits < 2 {
		t.Errorf("limiter: %d tries, %d waits; want the first attempt's wait refused, then slots granted", full.tries, full.waits)
	}
}

// A workspace that never frees a slot fails the delivery after the
// bounded wait, visibly, without a single request.
func TestEventWorkflowGivesUpAfterTheBusyWait(t *testing.T) {
	rc := newScripted(t, 200)
	// Every round is turned away (as when older deliveries fill this
	// worker's waiting places), so the timers between rounds grow.
	lim := &busyLimiter{n: 1 << 30, err: errors.New("no slot")}
	acts := &activities.Activities{Client: tlsClient(t, rc.srv), Limiter: lim, SlotWait: time.Millisecond}
	res, _ := run(t, acts, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	d := res.Deliveries[0]
	if d.Status != StatusFailed || len(d.Attempts) != 0 || rc.calls() != 0 || !strings.Contains(d.Error, "stayed at its delivery limit") {
		t.Errorf("got %s, %d attempts, %d calls, error %q", d.Status, len(d.Attempts), rc.calls(), d.Error)
	}
}

// fullLimiter refuses every TryAcquire and the first refuseFirst Acquire
// calls, and grants the rest.
type fullLimiter struct {
	mu           sync.Mutex
	tries, waits int
	refuseFirst  int
}

func (f *fullLimiter) TryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	return nil, false, nil
}

func (f *fullLimiter) Acquire(ctx context.Context, ws string, _ limiter.Ticket) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits++
	if f.waits <= f.refuseFirst {
		return nil, context.DeadlineExceeded
	}
	return func() {}, nil
}

// busyLimiter refuses every TryAcquire and the first n Acquire calls: with
// err, or else as a round that ran out with its place kept.
type busyLimiter struct {
	mu    sync.Mutex
	n     int
	calls int
	err   error
}

func (b *busyLimiter) TryAcquire(context.Context, string) (func(), bool, error) {
	return nil, false, nil
}

func (b *busyLimiter) Acquire(ctx context.Context, ws string, _ limiter.Ticket) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.calls <= b.n {
		if b.err != nil {
			return nil, b.err
		}
		return nil, fmt.Errorf("%w (%w)", context.DeadlineExceeded, limiter.ErrPlaceKept)
	}
	return func() {}, nil
}

// A workspace that stays at its limit makes the delivery wait on timers,
// without spending any of its four attempts.
// A round that waited its whole time kept its place and comes back after a
// short timer (placeRetry); a round turned away at once comes back after
// the growing one (busyBackoff: 1, 2, 4 s).
func TestEventWorkflowBusyWorkspaceSpendsNoAttempts(t *testing.T) {
	t.Run("rounds ran out, place kept", func(t *testing.T) {
		elapsed := busyRounds(t, nil)
		// The first attempt's wait takes the first refusal; then two
		// rounds of DeliverWebhook run out (placeRetry each), and its
		// retry waits 1 s before attempt 2.
		if limit := 2*placeRetryMax + time.Second + 300*time.Millisecond; elapsed > limit {
			t.Errorf("the delivery took %s of workflow time, want at most %s: short timers after rounds that kept their place", elapsed, limit)
		}
	})
	t.Run("rounds turned away", func(t *testing.T) {
		elapsed := busyRounds(t, errors.New("no slot"))
		// busyBackoff: at least 1 s, then 2 s; the retry 1 s.
		if floor := 4 * time.Second; elapsed < floor {
			t.Errorf("the delivery took %s of workflow time, want at least %s: growing timers after rounds turned away", elapsed, floor)
		}
	})
}

func busyRounds(t *testing.T, roundErr error) (elapsed time.Duration) {
	rc := newScripted(t, 500, 200)
	lim := &busyLimiter{n: 3, err: roundErr}
	acts := &activities.Activities{Client: tlsClient(t, rc.srv), Limiter: lim, SlotWait: 10 * time.Millisecond}
	start := time.Now()
	res, env := run(t, acts, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	defer func() { elapsed = env.Now().Sub(start) }()
	d := res.Deliveries[0]
	if d.Status != StatusDelivered || len(d.Attempts) != 2 || rc.calls() != 2 {
		t.Fatalf("got %s with %d attempts and %d calls, want delivered after 2 attempts", d.Status, len(d.Attempts), rc.calls())
	}
	if d.Attempts[0].Number != 1 || d.Attempts[1].Number != 2 {
		t.Errorf("attempt numbers %d, %d", d.Attempts[0].Number, d.Attempts[1].Number)
	}
	if lim.calls != 5 {
		t.Errorf("limiter asked %d times, want 3 busy + 2 granted", lim.calls)
	}
	return
}
