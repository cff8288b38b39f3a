package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/service"
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

// An event started with only the event whose routing fails for good (the
// registry answers with an error that retrying cannot cure) ends visibly:
// HariDeliveryStatus routing_failed in the execution log and the Web UI,
// and Wait and Show (the API's GET .../events/{id}, `starter show`) say
// "routing failed" with the reason, never a silent success.
func TestRoutingFailureIsVisible(t *testing.T) {
	t.Parallel()
	queue := "routefail-" + uuid.NewString()[:8]
	w, err := service.NewWorker(tc, service.Options{TaskQueue: queue, Secrets: srv.Keys, Router: stalledRouter{permanent: true}, StopTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ev := closedWonEvent("ws-" + uuid.NewString()[:8])
	id := workflows.WorkflowID(ev.Workspace, ev.ID)
	// As another SDK starts it: only the event.
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.EventWorkflowName, map[string]any{"event": ev}); err != nil {
		t.Fatal(err)
	}
	p := publisher.New(tc, publisher.Options{TaskQueue: queue, DataConverter: codec.DataConverter(srv.Keys)})
	o, err := p.Wait(ctx, ev.Workspace, ev.ID)
	if err != nil {
		t.Fatalf("wait: %v, want an outcome that says routing failed", err)
	}
	if !o.Done || !o.RoutingFailed || !strings.Contains(o.Error, "routing failed") || !strings.Contains(o.Error, activities.ErrRoutePermanent.Error()) || len(o.Deliveries) != 0 {
		t.Errorf("wait: got %+v, want done, routing_failed, the reason and no delivery", o)
	}
	s, err := p.Show(ctx, ev.Workspace, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !s.RoutingFailed || s.Error != o.Error {
		t.Errorf("show: got %+v, want routing_failed with %q", s, o.Error)
	}
	q := fmt.Sprintf("WorkflowId = '%s' AND %s = '%s'", id, workflows.SearchStatus.GetName(), workflows.StatusRoutingFailed)
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetExecutions()) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("visibility never listed %s with %s", id, q)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A workflow answers queries only between its workflow tasks, and a first
// attempt runs inside one: Show of an event whose first attempt hangs
// answers within ShowQueryWait (and a bit), busy, with the delivery it
// started pending, instead of waiting out the attempt.
func TestShowAnswersWhileAFirstAttemptHangs(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ev := newEvent()
	r, err := pub.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "slow", URL: rc.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	rc.WaitHits(t, 1, 30*time.Second)
	start := time.Now()
	o, err := pub.Show(ctx, ev.Workspace, r.EventID)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > publisher.ShowQueryWait+5*time.Second {
		t.Errorf("show took %s, want about ShowQueryWait (%s), not the attempt", took, publisher.ShowQueryWait)
	}
	if !o.Busy || o.Done || len(o.Deliveries) != 1 || o.Deliveries[0].Status != workflows.StatusPending || o.Deliveries[0].DeliveryID != workflows.DeliveryID(ev.ID, "slow") {
		t.Errorf("show: got %+v, want busy with the one delivery pending", o)
	}
	free()
	o, err = pub.Wait(ctx, ev.Workspace, r.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Deliveries) != 1 || o.Deliveries[0].Status != workflows.StatusDelivered || len(o.Deliveries[0].Attempts) != 1 {
		t.Errorf("after the receiver answered: got %+v, want delivered at the first attempt", o.Deliveries)
	}
}
