package integration

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

// stalledRouter is a registry whose worker is overloaded: it answers
// nothing until the caller gives up, or fails for good when permanent.
type stalledRouter struct{ permanent bool }

func (s stalledRouter) Routes(ctx context.Context, _ event.Event) ([]endpoint.Routed, error) {
	if s.permanent {
		return nil, activities.ErrRoutePermanent
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// When the registry does not answer within RouteWait at publish (its
// worker is overloaded), the publish neither fails nor waits: the workflow
// starts with only the event, routes it itself against the real registry,
// and the matching webhook gets it, signed, once. A permanent routing
// failure still fails the publish and starts nothing.
func TestPublishLeavesRoutingToTheWorkflowWhenTheRegistryIsSlow(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), nil); code != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", code, body)
	}
	const wait = 300 * time.Millisecond
	slow := publisher.New(tc, publisher.Options{DataConverter: codec.DataConverter(srv.Keys), Router: stalledRouter{}, Hosts: guard, RouteWait: wait})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ev := closedWonEvent(c.ws)
	start := time.Now()
	r, err := slow.Publish(ctx, workflowsInput(ev))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("publish with a stalled registry: %v, want the workflow to route it", err)
	}
	if !r.RoutedByWorkflow || r.Duplicate || r.NoMatch || r.WorkflowID != workflows.WorkflowID(c.ws, ev.ID) {
		t.Fatalf("receipt: got %+v, want routed_by_workflow for %s", r, workflows.WorkflowID(c.ws, ev.ID))
	}
	if took > wait+10*time.Second {
		t.Errorf("publish took %s with RouteWait %s, want it bounded by the wait, not the registry", took, wait)
	}
	o, err := slow.Wait(ctx, c.ws, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Deliveries) != 1 || o.Deliveries[0].Status != workflows.StatusDelivered {
		t.Fatalf("outcome: got %+v, want one delivered delivery", o.Deliveries)
	}
	got := rc.Hits()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	if got[0].Header.Get(signature.HeaderID) != o.Deliveries[0].DeliveryID || !signature.VerifyRequest("hari_registry_secret", got[0].Header, got[0].Body) {
		t.Errorf("request: id %q, want %s, signed with the webhook's secret", got[0].Header.Get(signature.HeaderID), o.Deliveries[0].DeliveryID)
	}

	// Publishing it again is a duplicate, whichever path routed it.
	if r2, err := slow.Publish(ctx, workflowsInput(ev)); err != nil || !r2.Duplicate {
		t.Errorf("second publish: got %+v, %v, want a duplicate", r2, err)
	}
	if r2, err := pub.Publish(ctx, workflowsInput(ev)); err != nil || !r2.Duplicate {
		t.Errorf("second publish through the normal publisher: got %+v, %v, want a duplicate", r2, err)
	}

	// A registry that fails for good fails the publish: nothing starts.
	broken := publisher.New(tc, publisher.Options{DataConverter: codec.DataConverter(srv.Keys), Router: stalledRouter{permanent: true}, Hosts: guard, RouteWait: wait})
	ev2 := closedWonEvent(c.ws)
	if r, err := broken.Publish(ctx, workflowsInput(ev2)); !errors.Is(err, activities.ErrRoutePermanent) {
		t.Fatalf("publish with a broken registry: got %+v, %v, want ErrRoutePermanent", r, err)
	}
	if _, err := tc.DescribeWorkflowExecution(ctx, workflows.WorkflowID(c.ws, ev2.ID), ""); err == nil {
		t.Errorf("a workflow was started for an event whose routing failed for good")
	}
	if n := len(rc.Hits()); n != 1 {
		t.Errorf("receiver got %d requests in all, want 1", n)
	}
}
