package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/internal/redistest"
	"github.com/hari-crm/webhooks/limiter"
)

// A delivery waiting for a slot of a busy workspace is served before the
// newer deliveries that wait in another worker: once it waits (first
// attempt or DeliverWebhook), the next freed slot is its own. Without the deployment-wide
// queue of tickets it races every newer waiter for every slot, and can
// lose for the whole two (time-skipped) hours of waiting.
func TestEventWorkflowOldDeliveryIsNotStarved(t *testing.T) {
	rs := redistest.Start(t)
	rc := newScripted(t, 200)
	ours := limiter.NewRedis(rs.Client(t), 1, 0)
	theirs := limiter.NewRedis(rs.Client(t), 1, 0) // another worker

	// Six newer deliveries of the other worker wait for the slot all the
	// time; each holds it 30 ms (an attempt), then queues again as a newer
	// delivery.
	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var grants []time.Time
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				rel, err := theirs.Acquire(ctx, "acme", limiter.Ticket{ID: fmt.Sprintf("newer-%d-%d", i, n), Since: time.Now()})
				if err != nil {
					continue
				}
				mu.Lock()
				grants = append(grants, time.Now())
				mu.Unlock()
				time.Sleep(30 * time.Millisecond)
				rel()
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	time.Sleep(200 * time.Millisecond)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Now().Add(-time.Minute)) // the event is older than every waiter
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	env.RegisterActivity(&activities.Activities{Client: tlsClient(t, rc.srv), Limiter: ours, SlotWait: 2 * time.Second})
	var waitFrom time.Time
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if waitFrom.IsZero() {
			waitFrom = time.Now() // the first attempt asks for a slot
		}
	})
	hit := deliverOld(t, env, rc)
	mu.Lock()
	overtook := countBetween(grants, waitFrom, hit)
	mu.Unlock()
	// One newer delivery may take a slot freed while the ticket was being
	// registered; after that the slot is ours.
	if testing.Verbose() {
		t.Logf("waitFrom %s hit %s; grants after waitFrom:", waitFrom.Format("15:04:05.000"), hit.Format("15:04:05.000"))
		for _, g := range grants {
			if g.After(waitFrom) {
				t.Log(g.Format("15:04:05.000"))
			}
		}
	}
	if overtook > 1 {
		t.Errorf("%d newer deliveries got the slot while the old delivery waited, want at most 1", overtook)
	}
}

// A delivery whose rounds of waiting run out keeps its place between them:
// a slot freed while it is on its timer (here: 800 ms away each time) waits
// for it, instead of going to a newer delivery that waits in another
// worker. The slot is freed exactly while the old delivery is away, in its
// first three returns; without kept places a newer delivery takes it each
// time.
func TestEventWorkflowOldDeliveryKeepsItsPlaceBetweenRounds(t *testing.T) {
	rs := redistest.Start(t)
	rc := newScripted(t, 200)
	ours := limiter.NewRedis(rs.Client(t), 1, 0)
	theirs := limiter.NewRedis(rs.Client(t), 1, 0)

	// Newer deliveries of another worker wait for the slot all the time;
	// whoever holds it lets go when told (free), or after 100 ms once the
	// old delivery's first three returns have passed.
	ctx, stop := context.WithCancel(context.Background())
	free := make(chan struct{}, 1)
	var signalled atomic.Int32
	var mu sync.Mutex
	var grants []time.Time
	hold := func(rel func()) {
		defer rel()
		mu.Lock()
		grants = append(grants, time.Now())
		mu.Unlock()
		for {
			select {
			case <-ctx.Done():
				return
			case <-free:
				return
			case <-time.After(100 * time.Millisecond):
				if signalled.Load() >= 3 {
					return
				}
			}
		}
	}
	first, err := theirs.Acquire(ctx, "acme", limiter.Ticket{ID: "newer-first", Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hold(first) }()
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				rel, err := theirs.Acquire(ctx, "acme", limiter.Ticket{ID: fmt.Sprintf("newer-%d-%d", i, n), Since: time.Now()})
				if err == nil {
					hold(rel)
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(60 * time.Second)
	env.SetStartTime(time.Now().Add(-time.Minute)) // older than every waiter
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	env.RegisterActivity(&activities.Activities{Client: tlsClient(t, rc.srv), Limiter: ours, SlotWait: 500 * time.Millisecond})
	var waitFrom time.Time
	env.SetOnLocalActivityStartedListener(func(*activity.Info, context.Context, []any) {
		waitFrom = time.Now()
	})
	// The test environment skips timers: the time a delivery spends
	// between rounds on a real server (its timer, a workflow task, the
	// activity's dispatch) is spent here, before each later round; the
	// slot is freed at its start.
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if strings.Contains(info.ActivityID, "/busy-") {
			if signalled.Add(1) <= 3 {
				free <- struct{}{}
			}
			time.Sleep(800 * time.Millisecond)
		}
	})
	hit := deliverOld(t, env, rc)
	mu.Lock()
	overtook := countBetween(grants, waitFrom, hit)
	mu.Unlock()
	t.Logf("the old delivery came back %d times; newer deliveries took the slot %d times meanwhile", signalled.Load(), overtook)
	if signalled.Load() < 1 {
		t.Error("the old delivery never came back for a second round: the test exercised no kept place")
	}
	if overtook > 0 {
		t.Errorf("%d newer deliveries got the slot freed while the old delivery was between rounds, want none", overtook)
	}
}

// deliverOld runs the old delivery's workflow to its end, checks that it
// was delivered at its first attempt, and returns when the receiver got it.
func deliverOld(t *testing.T, env *testsuite.TestWorkflowEnvironment, rc *scripted) time.Time {
	t.Helper()
	env.ExecuteWorkflow(EventWorkflowName, EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh1", URL: rc.srv.URL}}})
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if d := res.Deliveries[0]; d.Status != StatusDelivered || rc.calls() != 1 {
		t.Fatalf("the old delivery: got %s with %d attempts (%q), want delivered", d.Status, len(d.Attempts), d.Error)
	}
	return rc.hitAt(0)
}

// countBetween counts the times strictly between from and to.
func countBetween(times []time.Time, from, to time.Time) int {
	n := 0
	for _, g := range times {
		if g.After(from) && g.Before(to) {
			n++
		}
	}
	return n
}
