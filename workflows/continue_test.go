package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/limiter"
)

// outageLimiter is a limiter that cannot be reached (Redis down) until the
// workflow clock passes until; then every slot is free.
type outageLimiter struct {
	from, until time.Time
	now         func() time.Time
	calls       atomic.Int64
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (l *outageLimiter) TryAcquire(context.Context, string) (func(), bool, error) {
	l.calls.Add(1)
	if now := l.now(); !now.Before(l.from) && now.Before(l.until) {
		return nil, false, errUnreachable
	}
	return func() {}, true, nil
}

func (l *outageLimiter) Acquire(ctx context.Context, ws string, _ limiter.Ticket) (func(), error) {
	rel, _, err := l.TryAcquire(ctx, ws)
	return rel, err
}

// bigEvent is an event whose publish message (with n targets) is just
// under event.MaxSize.
func bigEvent(t *testing.T, targets []endpoint.Target) event.Event {
	t.Helper()
	ev := testEvent()
	ev.ID = "evt-outage"
	msg := func() int {
		b, err := json.Marshal(struct {
			event.Event
			Targets []endpoint.Target `json:"targets"`
		}{ev, targets})
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	ev.Record = event.Values(map[string]any{"id": "opp-1", "name": "Big deal", "amount": 5000.0, "notes": ""})
	pad := event.MaxSize - msg() - 64
	ev.Record = event.Values(map[string]any{"id": "opp-1", "name": "Big deal", "amount": 5000.0, "notes": strings.Repeat("n", pad)})
	if n := msg(); n > event.MaxSize || n < event.MaxSize-1024 {
		t.Fatalf("publish message is %d bytes, want just under %d", n, event.MaxSize)
	}
	return ev
}

// The worst case of issue 10: the limiter is unreachable for two hours, the
// event is near the 256 KiB limit and has 50 targets. Every run of the
// workflow keeps its history far below Temporal's limits (it continues as
// new), and when the outage ends every delivery is made, with attempt
// numbers from 1, none lost and none spent on waiting.
//
// In the second case, attempt 1 of every delivery fails (503 with a 2 KiB
// excerpt that JSON escapes six-fold) just before the outage, so every
// round of waiting and every carried state holds an attempt record.
func TestTwoHourOutageKeepsHistoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("long: two hours of workflow time, twice")
	}
	t.Run("outage from the start", func(t *testing.T) { outageRun(t, false) })
	t.Run("outage after a failed attempt", func(t *testing.T) { outageRun(t, true) })
}

func outageRun(t *testing.T, failFirst bool) {
	var mu sync.Mutex
	got := map[string][][]byte{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], b)
		n := len(got[r.URL.Path])
		mu.Unlock()
		if failFirst && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, strings.Repeat("\x01", 4<<10))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	targets := make([]endpoint.Target, 50)
	for i := range targets {
		targets[i] = endpoint.Target{ID: fmt.Sprintf("wh-%02d", i), URL: fmt.Sprintf("%s/hook/%02d", srv.URL, i), Secret: "s3cret"}
	}
	in := EventInput{Event: bigEvent(t, targets), Targets: targets}
	start := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	outage := 2 * time.Hour

	var cur atomic.Pointer[testsuite.TestWorkflowEnvironment]
	lim := &outageLimiter{from: start, until: start.Add(outage), now: func() time.Time { return cur.Load().Now() }}
	wantAttempts := 1
	if failFirst {
		// Attempt 1 at the start gets its slot; the outage begins before
		// the retry a second later, and lasts two hours.
		lim.from = start.Add(500 * time.Millisecond)
		lim.until = lim.from.Add(outage)
		wantAttempts = 2
	}
	acts := &activities.Activities{AllowDirectSecrets: true, Client: tlsClient(t, srv), Limiter: lim, Workflows: bodyAnswerer{in}}

	var res EventResult
	maxEvents, maxBytes, runs := 0, 0, 0
	clock := start
	for {
		runs++
		if runs > 100 {
			t.Fatal("more than 100 runs")
		}
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		// Slow shared machines stall a workflow task past the 1 s default.
		env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
		env.SetStartTime(clock)
		env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
		env.RegisterActivity(acts)
		cur.Store(env)
		meter := newHistoryMeter(t, env, in)
		if in.Continued != nil {
			// Across runs the status query lists every delivery.
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(QueryStatus)
				if err != nil {
					t.Errorf("run %d: status query: %v", runs, err)
					return
				}
				var st EventResult
				if err := v.Get(&st); err != nil || len(st.Deliveries) != len(targets) {
					t.Errorf("run %d: status lists %d deliveries (%v), want %d", runs, len(st.Deliveries), err, len(targets))
				}
			}, 100*time.Millisecond)
		}
		env.ExecuteWorkflow(EventWorkflowName, in)
		if !env.IsWorkflowCompleted() {
			t.Fatalf("run %d did not complete", runs)
		}
		clock = env.Now()
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			meter.finish(can.Input, nil)
			var next EventInput
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
				t.Fatalf("decode continue-as-new input: %v", err)
			}
			if next.Continued == nil || next.Continued.Run != runs {
				t.Fatalf("run %d continued with %+v, want its continuation", runs, next.Continued)
			}
			if n := can.Input.Size(); n > 2<<20 {
				t.Errorf("run %d: continue-as-new input is %d bytes, above Temporal's 2 MiB", runs, n)
			}
			in = next
		} else if err != nil {
			t.Fatalf("run %d: %v", runs, err)
		} else if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		} else {
			meter.finish(nil, res)
		}
		events, bytes := meter.figures()
		t.Logf("run %d: ended at +%s, history %d events, %d bytes", runs, clock.Sub(start).Round(time.Second), events, bytes)
		maxEvents, maxBytes = max(maxEvents, events), max(maxBytes, bytes)
		if can == nil {
			break
		}
	}
	t.Logf("2 h outage, %d-byte event, %d targets: %d runs; largest run history %d events (limit 51,200), %d bytes (limit 50 MB); limiter asked %d times",
		len(mustJSON(in.Event)), len(targets), runs, maxEvents, maxBytes, lim.calls.Load())

	if runs < 2 {
		t.Errorf("runs: got %d, want the workflow to continue as new at least once", runs)
	}
	if maxEvents > 12_000 {
		t.Errorf("largest run history: got %d events, want at most 12,000 (limit 51,200)", maxEvents)
	}
	if maxBytes > 12<<20 {
		t.Errorf("largest run history: got %d bytes, want at most 12 MiB (limit 50 MB)", maxBytes)
	}
	if clock.Before(lim.until) {
		t.Errorf("the workflow ended %s after its start, before the %s outage ended", clock.Sub(start), outage)
	}
	if len(res.Deliveries) != len(targets) {
		t.Fatalf("deliveries: got %d, want %d", len(res.Deliveries), len(targets))
	}
	for i, d := range res.Deliveries {
		if d.WebhookID != targets[i].ID || d.Status != StatusDelivered {
			t.Errorf("delivery %d: got %s %s (%s), want %s delivered", i, d.WebhookID, d.Status, d.Error, targets[i].ID)
			continue
		}
		if d.URL != targets[i].URL { // not carried: rebuilt from the target
			t.Errorf("%s: got URL %q after continue-as-new, want %q", d.WebhookID, d.URL, targets[i].URL)
		}
		if len(d.Attempts) != wantAttempts {
			t.Errorf("%s: got %d attempts, want %d", d.WebhookID, len(d.Attempts), wantAttempts)
		}
		if failFirst && len(d.Attempts) == 2 && (d.Attempts[0].StatusCode != 503 || d.Attempts[1].StatusCode != 200) {
			t.Errorf("%s: got statuses %d, %d, want 503 then 200", d.WebhookID, d.Attempts[0].StatusCode, d.Attempts[1].StatusCode)
		}
		for j, at := range d.Attempts {
			if at.Number != j+1 {
				t.Errorf("%s: attempt %d numbered %d", d.WebhookID, j+1, at.Number)
			}
		}
		bodies := got[fmt.Sprintf("/hook/%02d", i)]
		if len(bodies) != len(d.Attempts) {
			t.Errorf("%s: receiver got %d requests, want %d", d.WebhookID, len(bodies), len(d.Attempts))
		}
		for _, b := range bodies {
			if len(b) < 250<<10 || !strings.Contains(string(b), `"id":"opp-1"`) {
				t.Errorf("%s: receiver got a %d-byte body, want the whole record", d.WebhookID, len(b))
			}
		}
	}
}

// bodyAnswerer answers DeliverWebhook's body query with the workflow's own
// handler function (deliveryBody). The test environment's QueryWorkflow
// is not safe to call from 50 activities while the workflow runs.
type bodyAnswerer struct{ in EventInput }

func (b bodyAnswerer) QueryWorkflow(_ context.Context, _, _, queryType string, args ...any) (converter.EncodedValue, error) {
	if queryType != activities.QueryDeliveryBody || len(args) != 1 {
		return nil, fmt.Errorf("unexpected query %s %v", queryType, args)
	}
	dests := make([]destination, len(b.in.Targets))
	for i, t := range b.in.Targets {
		dests[i] = destination{Routed: endpoint.Routed{ID: t.ID, URL: t.URL, Fields: t.Fields}, Secret: t.Secret}
	}
	body, err := deliveryBody(b.in.Event, dests, args[0].(string))
	if err != nil {
		return nil, err
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(body)
	if err != nil {
		return nil, err
	}
	return encodedBody{p}, nil
}

type encodedBody struct{ p *commonpb.Payloads }

func (e encodedBody) HasValue() bool { return true }
func (e encodedBody) Get(v any) error {
	return converter.GetDefaultDataConverter().FromPayloads(e.p, v)
}

// The state a run carries stays within its budget even when every attempt
// of 50 deliveries kept a 2 KiB response excerpt that JSON escapes
// six-fold: excerpts are shortened, and every attempt is still listed.
func TestCarriedStateIsBounded(t *testing.T) {
	const budget = 1 << 20
	res := make([]DeliveryResult, 50)
	waits := make([]*Wait, 50)
	for i := range res {
		res[i] = DeliveryResult{WebhookID: fmt.Sprintf("wh-%02d", i), DeliveryID: fmt.Sprintf("evt:wh-%02d", i), URL: "https://example.com/hook", Status: StatusPending}
		for n := 1; n <= delivery.MaxAttempts-1; n++ {
			res[i].Attempts = append(res[i].Attempts, delivery.Attempt{Number: n, StatusCode: 500, Class: delivery.ClassHTTPStatus, ResponseBody: strings.Repeat("\x01", delivery.LoggedBodyLen)})
		}
		waits[i] = &Wait{Since: time.Unix(0, 0).UTC(), NextRound: 3}
	}
	full, _ := json.Marshal(res)
	if len(full) <= budget {
		t.Fatalf("test state is %d bytes, want above %d to exercise the bound", len(full), budget)
	}
	c, err := carry(1, res, waits, budget)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	if len(b) > budget {
		t.Errorf("carried state: got %d bytes, want at most %d", len(b), budget)
	}
	for i, d := range c.Deliveries {
		if len(d.Attempts) != delivery.MaxAttempts-1 || d.Wait == nil || d.Wait.NextRound != 3 {
			t.Fatalf("delivery %d: got %d attempts and wait %+v, want 3 attempts and the wait", i, len(d.Attempts), d.Wait)
		}
	}
	if got := len(res[0].Attempts[0].ResponseBody); got != delivery.LoggedBodyLen {
		t.Errorf("the running state's excerpt: got %d bytes, want %d (untouched)", got, delivery.LoggedBodyLen)
	}
}

// A continuation that does not match the targets is refused by name.
func TestContinuationMustMatchTargets(t *testing.T) {
	dests := []destination{{Routed: endpoint.Routed{ID: "a"}}, {Routed: endpoint.Routed{ID: "b"}}}
	tests := []struct {
		name string
		c    Continuation
		want string
	}{
		{"count", Continuation{Deliveries: []CarriedDelivery{{DeliveryResult: DeliveryResult{WebhookID: "a"}}}}, "1 deliveries for 2 targets"},
		{"order", Continuation{Deliveries: []CarriedDelivery{{DeliveryResult: DeliveryResult{WebhookID: "b"}}, {DeliveryResult: DeliveryResult{WebhookID: "a"}}}}, `delivery 0 is for webhook "b"`},
		{"wait on a finished delivery", Continuation{Deliveries: []CarriedDelivery{{DeliveryResult: DeliveryResult{WebhookID: "a", Status: StatusDelivered}, Wait: &Wait{NextRound: 1}}, {DeliveryResult: DeliveryResult{WebhookID: "b"}}}}, "waits with status delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.validate(dests)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A delivery that ended in an early run (here: refused, an http:// URL)
// is carried to the last run's result with its error, while another
// delivery waits through several runs and is then delivered.
func TestFinishedDeliveriesAreCarriedAcrossRuns(t *testing.T) {
	rc := newScripted(t, 200)
	start := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	var cur atomic.Pointer[testsuite.TestWorkflowEnvironment]
	lim := &outageLimiter{from: start, until: start.Add(30 * time.Second), now: func() time.Time { return cur.Load().Now() }}
	in := EventInput{Event: testEvent(), Targets: []endpoint.Target{
		{ID: "plain", URL: "http://example.com/hook"},
		{ID: "waits", URL: rc.srv.URL + "/hook"},
	}}
	acts := &activities.Activities{AllowDirectSecrets: true, Client: tlsClient(t, rc.srv), Limiter: lim, Workflows: bodyAnswerer{in}}
	clock := start
	var res EventResult
	runs := 0
	for ; runs < 50; runs++ {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
		env.SetStartTime(clock)
		env.SetContinueAsNewSuggested(true) // the server asks at every round
		env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
		env.RegisterActivity(acts)
		cur.Store(env)
		env.ExecuteWorkflow(EventWorkflowName, in)
		clock = env.Now()
		var can *workflow.ContinueAsNewError
		if err := env.GetWorkflowError(); errors.As(err, &can) {
			in = EventInput{}
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
				t.Fatal(err)
			}
			if d := in.Continued.Deliveries[0]; d.Status != StatusFailed || d.Wait != nil {
				t.Fatalf("run %d carried the refused delivery as %s (wait %+v), want failed", runs+1, d.Status, d.Wait)
			}
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		break
	}
	t.Logf("%d runs, the last ended at +%s", runs+1, clock.Sub(start))
	if runs < 2 {
		t.Errorf("runs: got %d, want the workflow to continue as new more than once", runs+1)
	}
	if len(res.Deliveries) != 2 {
		t.Fatalf("deliveries: got %d, want 2", len(res.Deliveries))
	}
	if d := res.Deliveries[0]; d.WebhookID != "plain" || d.Status != StatusFailed || !strings.Contains(d.Error, "https") {
		t.Errorf("plain: got %s %s (%q), want failed with the https rule", d.WebhookID, d.Status, d.Error)
	}
	if d := res.Deliveries[1]; d.WebhookID != "waits" || d.Status != StatusDelivered || len(d.Attempts) != 1 || d.Attempts[0].Number != 1 {
		t.Errorf("waits: got %s %s with %d attempts, want delivered at attempt 1", d.WebhookID, d.Status, len(d.Attempts))
	}
	if rc.calls() != 1 {
		t.Errorf("receiver calls: got %d, want 1", rc.calls())
	}
}
