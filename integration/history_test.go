package integration

import (
	"testing"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/workflows"
)

// A delivery that succeeds at once costs 7 history events: started, one
// workflow task (3), the first attempt's marker, the outcome's search
// attributes, completed. The body query, continue-as-new and their
// version markers add nothing to this path.
func TestImmediateDeliveryCostsSevenEvents(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(200))
	ev := newEvent()
	o := publishWait(t, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "fast", URL: rc.URL, Secret: secret}}})
	if d := o.Deliveries[0]; d.Status != workflows.StatusDelivered || len(d.Attempts) != 1 {
		t.Fatalf("got %s with %d attempts, want delivered at once", d.Status, len(d.Attempts))
	}
	events := history(t, workflows.WorkflowID(ev.Workspace, ev.ID))
	if len(events) != 7 {
		for _, e := range events {
			t.Logf("%d %s", e.GetEventId(), e.GetEventType())
		}
		t.Errorf("history events: got %d, want 7", len(events))
	}
}
