package workflows

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
)

// fakeRecoverer stands in for the publisher: it records how many
// redeliveries run at once and how often each delivery is started.
type fakeRecoverer struct {
	ids     []string
	failing string // this delivery's redelivery fails
	mu      sync.Mutex
	started map[string]int
	now     int
	max     int
	// batch, when set, lists at most this many per call (else q.Max);
	// listErr fails every listing; lists counts the listings, order the
	// deliveries in the order they were started.
	batch   int
	stopAt  string // from this delivery on, the webhook is no longer sendable
	stopped bool
	listErr error
	lists   int
	order   []string
}

func (f *fakeRecoverer) FailedDeliveries(_ context.Context, q activities.FailedQuery) (activities.FailedPage, error) {
	f.mu.Lock()
	f.lists++
	f.mu.Unlock()
	if q.Progress == nil {
		return activities.FailedPage{}, fmt.Errorf("no progress callback: the listing cannot heartbeat")
	}
	q.Progress(1, 0)
	if f.listErr != nil {
		return activities.FailedPage{}, f.listErr
	}
	start := 0
	if q.After != nil {
		n, err := strconv.Atoi(q.After.WorkflowID)
		if err != nil {
			return activities.FailedPage{}, err
		}
		start = n + 1
	}
	size := q.Max
	if f.batch > 0 {
		size = min(size, f.batch)
	}
	end := min(start+size, len(f.ids))
	page := activities.FailedPage{DeliveryIDs: f.ids[start:end]}
	if end < len(f.ids) {
		page.Next = &activities.Cursor{WorkflowID: strconv.Itoa(end - 1)}
	}
	return page, nil
}

func (f *fakeRecoverer) RecoverDelivery(_ context.Context, ws, _, deliveryID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if deliveryID == f.stopAt || f.stopped {
		f.stopped = true
		return "", temporal.NewNonRetryableApplicationError("webhook wh_1 is deactivated", ErrTypeRecoveryStopped, nil)
	}
	f.started[deliveryID]++
	f.order = append(f.order, deliveryID)
	f.now++
	f.max = max(f.max, f.now)
	return RedeliveryWorkflowID(ws, "krecovery", deliveryID), nil
}

func (f *fakeRecoverer) RedeliveryStatus(_ context.Context, ws, redeliveryID string) (string, string, error) {
	time.Sleep(20 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now--
	if redeliveryID == RedeliveryWorkflowID(ws, "krecovery", f.failing) {
		return StatusFailed, "HTTP 500", nil
	}
	return StatusDelivered, "", nil
}

// A recovery redelivers every listed delivery once, never more than its
// concurrency at once, and counts what was sent and what failed.
func TestRecoveryRedeliversEachOnceWithinItsConcurrency(t *testing.T) {
	f := &fakeRecoverer{started: map[string]int{}, failing: "ev-7:wh_1"}
	for i := range 25 {
		f.ids = append(f.ids, fmt.Sprintf("ev-%d:wh_1", i))
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
	env.RegisterActivity(&activities.Recovery{Recoverer: f})
	since := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	env.ExecuteWorkflow(RecoveryWorkflowName, RecoveryInput{Workspace: "acme", WebhookID: "wh_1", Since: since, Until: since.Add(time.Hour), Concurrency: 4})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var p RecoveryProgress
	if err := env.GetWorkflowResult(&p); err != nil {
		t.Fatal(err)
	}
	if p.State != RecoveryDone || p.Total != 25 || p.Sent != 24 || p.Failed != 1 || p.Running != 0 {
		t.Errorf("got %+v, want done, 24 of 25 sent, 1 failed", p)
	}
	if p.LastError != "ev-7:wh_1: HTTP 500" {
		t.Errorf("got last error %q, want %q", p.LastError, "ev-7:wh_1: HTTP 500")
	}
	for _, id := range f.ids {
		if f.started[id] != 1 {
			t.Errorf("delivery %s: started %d times, want 1", id, f.started[id])
		}
	}
	if f.max > 4 {
		t.Errorf("got %d redeliveries at once, want at most 4", f.max)
	}
}

// A backlog larger than one batch is recovered whole, oldest first: each
// batch continues as new after the previous one's last event, carrying the
// progress (before, every job listed the same newest batch and never
// reached the older deliveries).
func TestRecoveryWalksATruncatedBacklogOldestFirst(t *testing.T) {
	f := &fakeRecoverer{started: map[string]int{}, batch: 4}
	for i := range 10 {
		f.ids = append(f.ids, fmt.Sprintf("ev-%d:wh_1", i))
	}
	since := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	in := RecoveryInput{Workspace: "acme", WebhookID: "wh_1", Since: since, Until: since.Add(time.Hour), Concurrency: 2}
	var p RecoveryProgress
	runs := 0
	for ; runs < 10; runs++ {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
		env.RegisterActivity(&activities.Recovery{Recoverer: f})
		env.ExecuteWorkflow(RecoveryWorkflowName, in)
		var can *workflow.ContinueAsNewError
		if err := env.GetWorkflowError(); errors.As(err, &can) {
			var next RecoveryInput
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
				t.Fatal(err)
			}
			if next.Carried == nil || next.After == nil {
				t.Fatalf("run %d continued without cursor or progress: %+v", runs+1, next)
			}
			in = next
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if err := env.GetWorkflowResult(&p); err != nil {
			t.Fatal(err)
		}
		break
	}
	if runs+1 != 3 {
		t.Errorf("got %d runs, want 3 (batches of 4, 4 and 2)", runs+1)
	}
	if p.State != RecoveryDone || p.Total != 10 || p.Sent != 10 || p.Truncated {
		t.Errorf("got %+v, want done, 10 of 10 sent, not truncated", p)
	}
	for _, id := range f.ids {
		if f.started[id] != 1 {
			t.Errorf("delivery %s: started %d times, want 1", id, f.started[id])
		}
	}
	// Batches in order: the first 4 before the next 4, before the last 2.
	for i, id := range f.order {
		if b, want := i/4, indexOf(f.ids, id)/4; b != want {
			t.Errorf("delivery %s started in batch %d, want %d (order %v)", id, b+1, want+1, f.order)
			break
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// A listing that keeps failing is tried a bounded number of times, then
// the job ends with the state failed and the reason, instead of staying
// "listing" for ever.
func TestRecoveryListingFailsVisibly(t *testing.T) {
	f := &fakeRecoverer{started: map[string]int{}, listErr: errors.New("visibility unavailable")}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
	env.RegisterActivity(&activities.Recovery{Recoverer: f})
	since := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	env.ExecuteWorkflow(RecoveryWorkflowName, RecoveryInput{Workspace: "acme", WebhookID: "wh_1", Since: since, Until: since.Add(time.Hour)})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() == nil {
		t.Fatalf("got completed %v, error %v; want the job failed", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if f.lists != maxListAttempts {
		t.Errorf("got %d listing attempts, want %d", f.lists, maxListAttempts)
	}
	v, err := env.QueryWorkflow(QueryRecoveryProgress)
	if err != nil {
		t.Fatal(err)
	}
	var p RecoveryProgress
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	if p.State != RecoveryFailed || !strings.Contains(p.LastError, "visibility unavailable") {
		t.Errorf("got state %q, last error %q; want %q with the reason", p.State, p.LastError, RecoveryFailed)
	}
}

// A webhook deactivated or disabled during a recovery stops it: no more
// redeliveries start, and the state says stopped with the reason.
func TestRecoveryStopsWhenTheWebhookIsNoLongerSendable(t *testing.T) {
	f := &fakeRecoverer{started: map[string]int{}, stopAt: "ev-3:wh_1"}
	for i := range 10 {
		f.ids = append(f.ids, fmt.Sprintf("ev-%d:wh_1", i))
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
	env.RegisterActivity(&activities.Recovery{Recoverer: f})
	since := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	env.ExecuteWorkflow(RecoveryWorkflowName, RecoveryInput{Workspace: "acme", WebhookID: "wh_1", Since: since, Until: since.Add(time.Hour), Concurrency: 1})
	var p RecoveryProgress
	if err := env.GetWorkflowResult(&p); err != nil {
		t.Fatal(err)
	}
	if p.State != RecoveryStopped || p.Sent != 3 || !strings.Contains(p.LastError, "deactivated") {
		t.Errorf("got %+v, want stopped after 3 sent, saying deactivated", p)
	}
	if len(f.started) != 3 {
		t.Errorf("got %d redeliveries started, want 3 (none after the stop)", len(f.started))
	}
}

func TestRecoveryRefusesBadInput(t *testing.T) {
	since := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	for _, in := range []RecoveryInput{
		{WebhookID: "wh_1", Since: since, Until: since},
		{Workspace: "acme", WebhookID: "wh_1", Until: since},
		{Workspace: "acme", WebhookID: "wh_1", Since: since, Until: since.Add(-time.Second)},
		{Workspace: "acme", WebhookID: "wh_1", Since: since, Until: since, Concurrency: 51},
	} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
		env.RegisterActivity(&activities.Recovery{})
		env.ExecuteWorkflow(RecoveryWorkflowName, in)
		if err := env.GetWorkflowError(); err == nil {
			t.Errorf("input %+v: got no error, want InvalidRecovery", in)
		}
	}
}

func TestRedeliveryWorkflowIDRoundTrip(t *testing.T) {
	tests := []struct{ ws, key, delivery string }{
		{"acme", "r1", "ev-1:wh_1"},
		{"acme", "k0a1b", "ev:with:colons:wh_2"},
	}
	for _, tt := range tests {
		id := RedeliveryWorkflowID(tt.ws, tt.key, tt.delivery)
		ws, key, d, ok := ParseRedeliveryWorkflowID(id)
		if !ok || ws != tt.ws || key != tt.key || d != tt.delivery {
			t.Errorf("%s: got %q %q %q %v, want %q %q %q", id, ws, key, d, ok, tt.ws, tt.key, tt.delivery)
		}
		if _, _, ok := ParseWorkflowID(id); ok {
			t.Errorf("%s parses as an event workflow ID, want only as a redelivery", id)
		}
	}
	for _, bad := range []string{"webhook-event:acme:ev", "webhook-redelivery:acme:r1", "webhook-redelivery::r1:x:y", "webhook-redelivery:acme::x:y"} {
		if _, _, _, ok := ParseRedeliveryWorkflowID(bad); ok {
			t.Errorf("%q: parsed, want refused", bad)
		}
	}
	if ev, ok := SplitDeliveryID("ev:1:wh_1", "wh_1"); !ok || ev != "ev:1" {
		t.Errorf("SplitDeliveryID: got %q %v, want ev:1", ev, ok)
	}
	if _, ok := SplitDeliveryID("ev:1:wh_2", "wh_1"); ok {
		t.Error("SplitDeliveryID of another webhook's delivery: got ok, want refused")
	}
}

// An event whose every delivery was skipped (webhooks disabled) is
// "skipped"; skipped next to delivered is "delivered" under version 2 of
// search-skipped-keys (nothing failed: the skips are in HariSkippedKeys)
// and "partial" in histories recorded before; skipped next to failed is
// "partial"; without skipped deliveries nothing changes.
func TestEventStatusWithSkippedDeliveries(t *testing.T) {
	tests := []struct {
		statuses   []string
		skipsAside bool
		want       string
	}{
		{[]string{StatusDelivered}, true, StatusDelivered},
		{[]string{StatusFailed}, true, StatusFailed},
		{[]string{StatusDelivered, StatusFailed}, true, StatusPartial},
		{[]string{StatusSkipped}, true, StatusSkipped},
		{[]string{StatusSkipped, StatusSkipped}, true, StatusSkipped},
		{[]string{StatusSkipped, StatusDelivered}, true, StatusDelivered},
		{[]string{StatusSkipped, StatusDelivered, StatusDelivered}, true, StatusDelivered},
		{[]string{StatusSkipped, StatusFailed}, true, StatusPartial},
		{[]string{StatusSkipped, StatusDelivered, StatusFailed}, true, StatusPartial},
		{[]string{StatusSkipped, StatusDelivered}, false, StatusPartial},
		{[]string{StatusSkipped, StatusFailed}, false, StatusPartial},
		{[]string{StatusSkipped}, false, StatusSkipped},
	}
	for _, tt := range tests {
		ds := make([]DeliveryResult, len(tt.statuses))
		for i, s := range tt.statuses {
			ds[i].Status = s
		}
		if got := eventStatus(ds, tt.skipsAside); got != tt.want {
			t.Errorf("%v (skips aside %v): got %q, want %q", tt.statuses, tt.skipsAside, got, tt.want)
		}
	}
}
