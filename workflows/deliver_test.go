package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
)

// DeliverWebhook is scheduled without the body (its input is recorded in
// history on every schedule). It takes the body that FirstAttempt kept on
// this worker, or else asks the workflow for it; either way the receiver
// gets the same bytes on every attempt.
func TestDeliverWebhookInputCarriesNoBody(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cache       int
		wantQueries int
	}{
		{"kept by the first attempt", 0, 0},
		{"queried from the workflow", -1, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := newScripted(t, 500, 500, 200)
			acts := &activities.Activities{AllowDirectSecrets: true, Client: tlsClient(t, rc.srv), BodyCache: tt.cache}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
			q := &countingQuerier{q: envQuerier{env}}
			acts.Workflows = q
			env.RegisterActivity(acts)
			var mu sync.Mutex
			var inputs []activities.DeliverInput
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
				var in activities.DeliverInput
				if err := args.Get(&in); err != nil {
					t.Errorf("decode %s input: %v", info.ActivityType.Name, err)
					return
				}
				mu.Lock()
				inputs = append(inputs, in)
				mu.Unlock()
			})
			env.ExecuteWorkflow(EventWorkflowName, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL, Secret: "s3cret"}}})
			var res EventResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if d := res.Deliveries[0]; d.Status != StatusDelivered || len(d.Attempts) != 3 {
				t.Fatalf("got %s with %d attempts, want delivered with 3", d.Status, len(d.Attempts))
			}
			if len(inputs) != 2 {
				t.Fatalf("got %d DeliverWebhook attempts, want 2", len(inputs))
			}
			for i, in := range inputs {
				if len(in.Body) != 0 {
					t.Errorf("DeliverWebhook input %d: got a %d-byte body, want none", i+1, len(in.Body))
				}
			}
			if q.n != tt.wantQueries {
				t.Errorf("body queries: got %d, want %d", q.n, tt.wantQueries)
			}
			if rc.calls() != 3 {
				t.Fatalf("receiver calls: got %d, want 3", rc.calls())
			}
			for i := 1; i < 3; i++ {
				if string(rc.body[i]) != string(rc.body[0]) || len(rc.body[i]) == 0 {
					t.Errorf("call %d: got body %q, want the first attempt's %q", i+1, rc.body[i], rc.body[0])
				}
			}
		})
	}
}

type countingQuerier struct {
	q  activities.WorkflowQuerier
	mu sync.Mutex
	n  int
}

func (c *countingQuerier) QueryWorkflow(ctx context.Context, wid, rid, queryType string, args ...any) (converter.EncodedValue, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.q.QueryWorkflow(ctx, wid, rid, queryType, args...)
}

// When the body cannot be fetched, no attempt is spent: the delivery waits
// and queues again, like a workspace at its limit.
func TestBodyUnavailableSpendsNoAttempt(t *testing.T) {
	rc := newScripted(t, 500, 200)
	q := &flakyQuerier{fail: 2}
	acts := &activities.Activities{Client: tlsClient(t, rc.srv), Workflows: q, BodyCache: -1}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	q.env = env
	env.RegisterActivity(acts)
	env.ExecuteWorkflow(EventWorkflowName, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries[0]
	if d.Status != StatusDelivered || len(d.Attempts) != 2 || rc.calls() != 2 {
		t.Fatalf("got %s with %d attempts and %d calls, want delivered after 2 attempts", d.Status, len(d.Attempts), rc.calls())
	}
	if d.Attempts[1].Number != 2 || d.Attempts[1].StatusCode != 200 {
		t.Errorf("attempt 2: got %+v, want #2 with 200", d.Attempts[1])
	}
	if q.calls != 3 {
		t.Errorf("body queries: got %d, want 2 failed + 1 answered", q.calls)
	}
}

type flakyQuerier struct {
	env   *testsuite.TestWorkflowEnvironment
	mu    sync.Mutex
	fail  int
	calls int
}

func (q *flakyQuerier) QueryWorkflow(_ context.Context, _, _, queryType string, args ...any) (converter.EncodedValue, error) {
	q.mu.Lock()
	q.calls++
	n := q.calls
	q.mu.Unlock()
	if n <= q.fail {
		return nil, context.DeadlineExceeded
	}
	return q.env.QueryWorkflow(queryType, args...)
}

// When DeliverWebhook fails by timeout (a worker that hung or died mid
// attempt), the attempts it recorded in its heartbeat stay in the result,
// and the attempts cut off are listed as interrupted, numbered on.
func TestTimeoutKeepsHeartbeatAttempts(t *testing.T) {
	rc := newScripted(t, 500)
	acts := &activities.Activities{Client: tlsClient(t, rc.srv)}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	acts.Workflows = envQuerier{env}
	env.RegisterActivity(acts)
	heartbeat := []delivery.Attempt{
		{Number: 1, StartedAt: time.Unix(1, 0).UTC(), StatusCode: 500, Class: delivery.ClassHTTPStatus},
		{Number: 2, StartedAt: time.Unix(3, 0).UTC(), StatusCode: 502, Class: delivery.ClassHTTPStatus, ResponseBody: "bad gateway"},
	}
	env.OnActivity(acts.DeliverWebhook, mock.Anything, mock.Anything).
		Return(activities.DeliverResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil, heartbeat))
	env.ExecuteWorkflow(EventWorkflowName, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries[0]
	if d.Status != StatusFailed {
		t.Fatalf("status: got %s, want %s", d.Status, StatusFailed)
	}
	if len(d.Attempts) != delivery.MaxAttempts {
		t.Fatalf("attempts: got %d, want %d: %+v", len(d.Attempts), delivery.MaxAttempts, d.Attempts)
	}
	for i, at := range d.Attempts {
		if at.Number != i+1 {
			t.Errorf("attempt %d: got number %d, want %d", i+1, at.Number, i+1)
		}
	}
	if got := d.Attempts[1]; got.StatusCode != 502 || got.ResponseBody != "bad gateway" {
		t.Errorf("attempt 2: got %+v, want the heartbeat's 502 with its body", got)
	}
	for _, at := range d.Attempts[2:] {
		if at.Class != delivery.ClassTimeout || !strings.Contains(at.Error, "timed out") {
			t.Errorf("attempt %d: got class %q error %q, want an interrupted timeout", at.Number, at.Class, at.Error)
		}
	}
	if !strings.Contains(d.Error, "attempt 4") {
		t.Errorf("error: got %q, want the last attempt's summary", d.Error)
	}
}

// A busy round's failure says in a second detail whether the limiter kept
// the delivery's place; the attempt log stays the first detail, so a
// workflow from before kept places (reading one detail) sees what it saw.
func TestBusyFailureDetails(t *testing.T) {
	log := []delivery.Attempt{{Number: 1, StatusCode: 503, Class: delivery.ClassHTTPStatus}}
	// As the workflow receives them: through the failure converter.
	received := func(typ string, details ...any) *temporal.ApplicationError {
		fc := temporal.GetDefaultFailureConverter()
		var appErr *temporal.ApplicationError
		if !errors.As(fc.FailureToError(fc.ErrorToFailure(temporal.NewNonRetryableApplicationError("busy", typ, nil, details...))), &appErr) {
			t.Fatal("not an application error after the round trip")
		}
		return appErr
	}
	kept := received(delivery.ErrTypeWorkspaceBusy, log, true)
	keptNoLog := received(delivery.ErrTypeWorkspaceBusy, []delivery.Attempt(nil), true)
	plain := received(delivery.ErrTypeWorkspaceBusy, log)
	bare := received(delivery.ErrTypeWorkspaceBusy)
	other := received(delivery.ErrTypeBodyUnavailable, log, true)
	for _, c := range []struct {
		name string
		err  *temporal.ApplicationError
		want bool
	}{{"kept", kept, true}, {"kept, no new attempts", keptNoLog, true}, {"not kept", plain, false}, {"no details", bare, false}, {"another type", other, false}} {
		if got := placeKept(c.err); got != c.want {
			t.Errorf("%s: placeKept %v, want %v", c.name, got, c.want)
		}
	}
	// What an older workflow reads: the log, whether or not a place was kept.
	for _, e := range []*temporal.ApplicationError{kept, plain} {
		d := &DeliveryResult{}
		keepFailureLog(e, d)
		if len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 503 {
			t.Errorf("%v: attempt log read as %+v", e, d.Attempts)
		}
	}
	d := &DeliveryResult{Attempts: log}
	keepFailureLog(keptNoLog, d)
	if len(d.Attempts) != 1 {
		t.Errorf("a kept place without new attempts dropped the log: %+v", d.Attempts)
	}
}

// Attempts 2 and 3 record the log as heartbeat details for the attempt
// after them; attempt 4, the last, carries it in its failure only (one
// server write fewer for every delivery whose receiver is down), and the
// result still lists all four attempts.
func TestLastAttemptDoesNotHeartbeat(t *testing.T) {
	rc := newScripted(t, 503)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	acts := &activities.Activities{Client: tlsClient(t, rc.srv)}
	acts.Workflows = envQuerier{env}
	env.RegisterActivity(acts)
	var beats []int32
	env.SetOnActivityHeartbeatListener(func(info *activity.Info, _ converter.EncodedValues) {
		beats = append(beats, info.Attempt)
	})
	env.ExecuteWorkflow(EventWorkflowName, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries[0]
	if d.Status != StatusFailed || len(d.Attempts) != 4 || rc.calls() != 4 {
		t.Fatalf("got %s with %d attempts and %d requests, want failed after 4", d.Status, len(d.Attempts), rc.calls())
	}
	for i, a := range d.Attempts {
		if a.Number != i+1 || a.StatusCode != 503 {
			t.Errorf("attempt %d: got number %d, status %d, want %d, 503", i+1, a.Number, a.StatusCode, i+1)
		}
	}
	// DeliverWebhook's attempts 1 and 2 (the delivery's 2 and 3).
	if want := []int32{1, 2}; !slices.Equal(beats, want) {
		t.Errorf("heartbeats from DeliverWebhook attempts %v, want %v", beats, want)
	}
}
