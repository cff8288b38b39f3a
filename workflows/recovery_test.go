package workflows

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
}

func (f *fakeRecoverer) FailedDeliveries(_ context.Context, _, _ string, _, _ time.Time, max int) ([]string, bool, error) {
	if len(f.ids) > max {
		return f.ids[:max], true, nil
	}
	return f.ids, false, nil
}

func (f *fakeRecoverer) RecoverDelivery(_ context.Context, ws, _, deliveryID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started[deliveryID]++
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
// "skipped"; skipped next to delivered or failed is "partial"; without
// skipped deliveries nothing changes.
func TestEventStatusWithSkippedDeliveries(t *testing.T) {
	tests := []struct {
		statuses []string
		want     string
	}{
		{[]string{StatusDelivered}, StatusDelivered},
		{[]string{StatusFailed}, StatusFailed},
		{[]string{StatusDelivered, StatusFailed}, StatusPartial},
		{[]string{StatusSkipped}, StatusSkipped},
		{[]string{StatusSkipped, StatusSkipped}, StatusSkipped},
		{[]string{StatusSkipped, StatusDelivered}, StatusPartial},
		{[]string{StatusSkipped, StatusFailed}, StatusPartial},
	}
	for _, tt := range tests {
		ds := make([]DeliveryResult, len(tt.statuses))
		for i, s := range tt.statuses {
			ds[i].Status = s
		}
		if got := eventStatus(ds); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.statuses, got, tt.want)
		}
	}
}
