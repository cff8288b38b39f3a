package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/signature"
)

// fakeRouter answers Routes from a fixed list, failing the first failures
// calls.
type fakeRouter struct {
	mu       sync.Mutex
	routed   []endpoint.Routed
	failures int
	calls    int
	got      []event.Event
}

func (f *fakeRouter) Routes(_ context.Context, ev event.Event) ([]endpoint.Routed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.got = append(f.got, ev)
	if f.calls <= f.failures {
		return nil, errors.New("registry unreachable")
	}
	return f.routed, nil
}

// routeRun runs EventWorkflow on in and returns its result (or error) and
// the HariDeliveryStatus values it upserted, in order (each followed by
// "@<workspace>" when the same upsert set HariWorkspace).
func routeRun(t *testing.T, acts *activities.Activities, in EventInput, oldHistory bool) (EventResult, error, []string) {
	t.Helper()
	v := routeVersion
	if oldHistory {
		v = workflow.DefaultVersion
	}
	return routeRunAt(t, acts, in, v, "")
}

// routeRunAt is routeRun with the route-in-workflow version a recorded
// history would give.
func routeRunAt(t *testing.T, acts *activities.Activities, in EventInput, v workflow.Version, id string) (EventResult, error, []string) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	if id == "" {
		id = WorkflowID(in.Event.Workspace, in.Event.ID)
	}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	acts.Workflows = envQuerier{env}
	env.RegisterActivity(acts)
	if v != routeVersion {
		env.OnGetVersion(versionRouteInWorkflow, workflow.DefaultVersion, routeVersion).Return(v)
	}
	var mu sync.Mutex
	var statuses []string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if st, ok := sa.GetKeyword(SearchStatus); ok {
			if ws, ok := sa.GetKeyword(SearchWorkspace); ok {
				st += "@" + ws
			}
			mu.Lock()
			statuses = append(statuses, st)
			mu.Unlock()
		}
	}).Return(nil)
	env.ExecuteWorkflow(EventWorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		return EventResult{}, err, statuses
	}
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil, statuses
}

// An event started with only the event is routed by the workflow to the
// webhooks its workspace's registry matches, and delivered signed with the
// webhook's sealed secret, opened only by the worker.
func TestEventWorkflowRoutesAnEventStartedWithoutTargets(t *testing.T) {
	keys := newRing(t)
	rcv := newScripted(t, 200)
	sealed, err := keys.Seal(victimSecret, "acme", "wh_1", endpoint.CanonicalURL(rcv.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		failures int // the local routing attempt fails: the activity asks again
	}{
		{"local activity answers", 0},
		{"local activity fails, activity answers", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcv.mu.Lock()
			before := len(rcv.got)
			rcv.mu.Unlock()
			router := &fakeRouter{routed: []endpoint.Routed{{ID: "wh_1", URL: rcv.srv.URL, SealedSecret: sealed, Fields: []string{"name"}}}, failures: tt.failures}
			acts := &activities.Activities{Client: tlsClient(t, rcv.srv), Secrets: keys, Router: router, AttemptTimeout: time.Second}
			res, err, statuses := routeRun(t, acts, EventInput{Event: testEvent()}, false)
			if err != nil {
				t.Fatalf("workflow error: %v", err)
			}
			if router.calls != tt.failures+1 {
				t.Errorf("router calls: got %d, want %d", router.calls, tt.failures+1)
			}
			if len(router.got) > 0 && router.got[0].ID != testEvent().ID {
				t.Errorf("routed event: got %q, want %q", router.got[0].ID, testEvent().ID)
			}
			if res.NoMatch {
				t.Error("no_match: got true, want false")
			}
			if len(res.Deliveries) != 1 {
				t.Fatalf("deliveries: got %d, want 1", len(res.Deliveries))
			}
			if d := res.Deliveries[0]; d.Status != StatusDelivered || d.WebhookID != "wh_1" || d.DeliveryID != DeliveryID("evt-1", "wh_1") {
				t.Fatalf("delivery: got %s %s %s (%s), want wh_1 delivered", d.WebhookID, d.DeliveryID, d.Status, d.Error)
			}
			rcv.mu.Lock()
			got := len(rcv.got) - before
			h, body := rcv.got[len(rcv.got)-1].Header, rcv.body[len(rcv.body)-1]
			rcv.mu.Unlock()
			if got != 1 {
				t.Fatalf("receiver requests: got %d, want 1", got)
			}
			if !signature.VerifyRequest(victimSecret, h, body) {
				t.Error("X-Webhook-Signature does not verify with the webhook's secret")
			}
			if !strings.Contains(string(body), `"name":"Big deal"`) || strings.Contains(string(body), `"amount"`) {
				t.Errorf("body: got %s, want the webhook's field selection (name only)", body)
			}
			if want := []string{StatusRouting + "@acme", StatusPending + "@acme", StatusDelivered}; strings.Join(statuses, ",") != strings.Join(want, ",") {
				t.Errorf("HariDeliveryStatus upserts: got %v, want %v", statuses, want)
			}
		})
	}
}

// An event that matches nothing (or whose workspace has no registry: the
// router answers none) ends visibly "no match": in its result and in
// HariDeliveryStatus, never as a silent "delivered".
func TestEventWorkflowNoMatchIsVisible(t *testing.T) {
	acts := &activities.Activities{Router: &fakeRouter{}}
	res, err, statuses := routeRun(t, acts, EventInput{Event: testEvent()}, false)
	if err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	if !res.NoMatch || len(res.Deliveries) != 0 {
		t.Errorf("result: got no_match=%v with %d deliveries, want no_match=true with 0", res.NoMatch, len(res.Deliveries))
	}
	if want := []string{StatusRouting + "@acme", StatusNoMatch}; strings.Join(statuses, ",") != strings.Join(want, ",") {
		t.Errorf("HariDeliveryStatus upserts: got %v, want %v", statuses, want)
	}
}

// A worker without a router fails the event with the reason, rather than
// completing it with nothing sent.
func TestEventWorkflowWithoutRouterFails(t *testing.T) {
	_, err, _ := routeRun(t, &activities.Activities{}, EventInput{Event: testEvent()}, false)
	if err == nil || !strings.Contains(err.Error(), "no webhook registry") {
		t.Fatalf("workflow error: got %v, want one saying the worker has no webhook registry", err)
	}
}

// A history recorded before routing in the workflow (no version marker)
// replays as it ran: no routing, no delivery, no "no match".
func TestEventWorkflowRoutingIsVersioned(t *testing.T) {
	router := &fakeRouter{routed: []endpoint.Routed{{ID: "wh_1", URL: "https://example.com/hook"}}}
	res, err, statuses := routeRun(t, &activities.Activities{Router: router}, EventInput{Event: testEvent()}, true)
	if err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	if router.calls != 0 || len(res.Deliveries) != 0 || res.NoMatch {
		t.Errorf("got %d router calls, %d deliveries, no_match=%v; want 0, 0, false", router.calls, len(res.Deliveries), res.NoMatch)
	}
	if want := []string{StatusDelivered + "@acme"}; strings.Join(statuses, ",") != strings.Join(want, ",") {
		t.Errorf("HariDeliveryStatus upserts: got %v, want %v", statuses, want)
	}
}

// Events with targets never ask the router: the publisher's path is
// unchanged.
func TestEventWorkflowWithTargetsDoesNotRoute(t *testing.T) {
	rcv := newScripted(t, 200)
	router := &fakeRouter{}
	acts := &activities.Activities{Client: tlsClient(t, rcv.srv), Router: router, AttemptTimeout: time.Second}
	res, err, _ := routeRun(t, acts, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "d1", URL: rcv.srv.URL}}}, false)
	if err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	if router.calls != 0 || len(res.Deliveries) != 1 || res.Deliveries[0].Status != StatusDelivered {
		t.Errorf("got %d router calls and %+v, want 0 calls and one delivered", router.calls, res.Deliveries)
	}
}

// permanentRouter fails every Routes call, permanently when permanent.
type permanentRouter struct {
	mu        sync.Mutex
	calls     int
	permanent bool
}

func (p *permanentRouter) Routes(context.Context, event.Event) ([]endpoint.Routed, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.permanent {
		return nil, fmt.Errorf("%w: registry cannot be recovered: workspace acme", activities.ErrRoutePermanent)
	}
	return nil, errors.New("registry unavailable")
}

// When routing fails, the event stays visible: its workspace and
// HariDeliveryStatus=routing are recorded before routing, routing_failed
// after, and the workflow fails with RoutingFailed and the reason. A
// permanent error is asked once (no hour of retries); a passing one is
// retried by the activity until routeRetryFor.
func TestEventWorkflowRoutingFailureIsVisible(t *testing.T) {
	for _, tt := range []struct {
		name      string
		permanent bool
		calls     func(int) bool
		wantCalls string
	}{
		{"permanent error, not retried", true, func(n int) bool { return n == 1 }, "1"},
		{"transient error, retried then failed", false, func(n int) bool { return n > 2 }, "more than 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			router := &permanentRouter{permanent: tt.permanent}
			_, err, statuses := routeRun(t, &activities.Activities{Router: router}, EventInput{Event: testEvent()}, false)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrTypeRoutingFailed {
				t.Fatalf("workflow error: got %v, want a %s failure", err, ErrTypeRoutingFailed)
			}
			if !strings.Contains(err.Error(), "registry") || !strings.Contains(err.Error(), "evt-1") {
				t.Errorf("workflow error: got %q, want the event and the registry's reason", err)
			}
			if want := []string{StatusRouting + "@acme", StatusRoutingFailed}; strings.Join(statuses, ",") != strings.Join(want, ",") {
				t.Errorf("HariDeliveryStatus upserts: got %v, want %v", statuses, want)
			}
			if !tt.calls(router.calls) {
				t.Errorf("router calls: got %d, want %s", router.calls, tt.wantCalls)
			}
		})
	}
}

// A history recorded at routeFirst replays as it ran: no search attribute
// before routing, and a routing failure fails without one.
func TestEventWorkflowRoutingFailureVersioned(t *testing.T) {
	router := &permanentRouter{permanent: true}
	_, err, statuses := routeRunAt(t, &activities.Activities{Router: router}, EventInput{Event: testEvent()}, routeFirst, "")
	if err == nil {
		t.Fatal("workflow error: got nil, want the routing error")
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == ErrTypeRoutingFailed {
		t.Errorf("workflow error type: got %s, want the routeFirst error", app.Type())
	}
	if len(statuses) != 0 {
		t.Errorf("HariDeliveryStatus upserts: got %v, want none", statuses)
	}
}

// An event routed in its workflow must be started under its own ID,
// WorkflowID(event.workspace, event.id): a raw start under workspace A's
// ID with workspace B's event fails InvalidEvent, asking B's registry
// nothing and recording nothing. Histories recorded before the check
// (routeVisible) replay as they ran.
func TestEventWorkflowRoutingChecksItsID(t *testing.T) {
	for _, tt := range []struct {
		name, id    string
		v           workflow.Version
		wantInvalid bool
	}{
		{"another workspace's ID", WorkflowID("other", "evt-1"), routeVersion, true},
		{"another event's ID", WorkflowID("acme", "evt-2"), routeVersion, true},
		{"not an event workflow ID", "evt-1", routeVersion, true},
		{"its own ID", WorkflowID("acme", "evt-1"), routeVersion, false},
		{"another workspace's ID, recorded before the check", WorkflowID("other", "evt-1"), routeVisible, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			router := &fakeRouter{}
			_, err, statuses := routeRunAt(t, &activities.Activities{Router: router}, EventInput{Event: testEvent()}, tt.v, tt.id)
			var app *temporal.ApplicationError
			invalid := errors.As(err, &app) && app.Type() == "InvalidEvent"
			if invalid != tt.wantInvalid {
				t.Fatalf("workflow error: got %v, want InvalidEvent=%v", err, tt.wantInvalid)
			}
			if !tt.wantInvalid {
				return
			}
			if !strings.Contains(err.Error(), WorkflowID("acme", "evt-1")) {
				t.Errorf("workflow error: got %q, want it to name the expected ID %s", err, WorkflowID("acme", "evt-1"))
			}
			if router.calls != 0 || len(statuses) != 0 {
				t.Errorf("got %d router calls and upserts %v, want none", router.calls, statuses)
			}
		})
	}
}

// A raw start over event.MaxSize (the publisher refuses one; a raw client
// could start one) fails InvalidEvent, naming the limit, before any
// routing or delivery. A history recorded before the check (no marker)
// replays as it ran.
func TestEventWorkflowRefusesOversizedRawStart(t *testing.T) {
	big := testEvent()
	big.Record = event.Values(map[string]any{"id": "r-1", "note": strings.Repeat("x", event.MaxSize)})
	rcv := newScripted(t, 200)
	for _, tt := range []struct {
		name        string
		in          EventInput
		recorded    bool // recorded before the size check
		wantInvalid bool
	}{
		{"routed in the workflow", EventInput{Event: big}, false, true},
		{"direct target", EventInput{Event: big, Targets: []endpoint.Target{{ID: "d1", URL: rcv.srv.URL}}}, false, true},
		{"direct target, recorded before the check", EventInput{Event: big, Targets: []endpoint.Target{{ID: "d1", URL: rcv.srv.URL}}}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			router := &fakeRouter{}
			acts := &activities.Activities{Client: tlsClient(t, rcv.srv), Router: router, AttemptTimeout: time.Second}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID(big.Workspace, big.ID)})
			acts.Workflows = envQuerier{env}
			env.RegisterActivity(acts)
			if tt.recorded {
				env.OnGetVersion(versionSizeCheck, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
			env.ExecuteWorkflow(EventWorkflowName, tt.in)
			err := env.GetWorkflowError()
			var app *temporal.ApplicationError
			invalid := errors.As(err, &app) && app.Type() == "InvalidEvent"
			if invalid != tt.wantInvalid {
				t.Fatalf("workflow error: got %v, want InvalidEvent=%v", err, tt.wantInvalid)
			}
			if tt.wantInvalid {
				if !strings.Contains(err.Error(), "the limit is 262144") {
					t.Errorf("workflow error: got %q, want it to name the 262144-byte limit", err)
				}
				if router.calls != 0 {
					t.Errorf("router calls: got %d, want 0", router.calls)
				}
			}
		})
	}
}
