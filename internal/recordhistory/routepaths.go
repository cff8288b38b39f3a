package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// failFirst fails its first call with an error that may pass, then routes
// through next: the local routing activity fails and the regular one
// routes.
type failFirst struct {
	calls atomic.Int32
	next  activities.Router
}

func (f *failFirst) Routes(ctx context.Context, ev event.Event) ([]endpoint.Routed, error) {
	if f.calls.Add(1) == 1 {
		return nil, errors.New("the registry did not answer in time (recorded on purpose)")
	}
	return f.next.Routes(ctx, ev)
}

// brokenRouter fails every call for good.
type brokenRouter struct{}

func (brokenRouter) Routes(context.Context, event.Event) ([]endpoint.Routed, error) {
	return nil, fmt.Errorf("%w: recorded on purpose", activities.ErrRoutePermanent)
}

// recordRoutePaths records, with the current code (version 3 of
// route-in-workflow), into dir the two routing paths that
// recordEventRouted does not:
//
//   - event_only_routed_by_activity_v3.json: the local routing activity
//     fails, the regular RouteEvent activity routes, and the event is
//     delivered;
//
//   - event_only_routing_failed_v3.json: the registry fails for good, so
//     the workflow records routing_failed and fails RoutingFailed.
//
//     go run ./internal/recordhistory routepaths testdata/replay
func recordRoutePaths(dir string) error {
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	rcv := okReceiver()
	defer rcv.Close()
	reg := registry.New(c, registry.Options{})
	tls := activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(&devtest.Receiver{Server: rcv})})
	for _, q := range []struct {
		queue  string
		router activities.Router
	}{
		{workflows.TaskQueue, &failFirst{next: reg.FailFast()}},
		{"replay-broken", brokenRouter{}},
	} {
		w, err := service.NewWorker(c, service.Options{TaskQueue: q.queue, Router: q.router, HTTPClient: tls})
		if err != nil {
			return err
		}
		if err := w.Start(); err != nil {
			return err
		}
		defer w.Stop()
	}
	if _, err := reg.Create(ctx, "replay-routed", webhook.Spec{Config: webhook.Config{Name: "replay", Entity: "opportunity",
		Events: []event.Type{event.StageChanged}, URL: rcv.URL, Fields: []string{"name"}}}); err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}

	ev := replayEvent("replay-routed-activity-1", "replay-routed")
	id := workflows.WorkflowID(ev.Workspace, ev.ID)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.EventWorkflowName, map[string]any{"event": ev})
	if err != nil {
		return err
	}
	var res workflows.EventResult
	if err := run.Get(ctx, &res); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != workflows.StatusDelivered {
		return fmt.Errorf("event %s: got %+v, want one delivery delivered", ev.ID, res)
	}
	if err := show(srv.HostPort, id, run.GetRunID(), filepath.Join(dir, "event_only_routed_by_activity_v3.json")); err != nil {
		return err
	}

	ev = replayEvent("replay-routing-failed-1", "replay-broken")
	id = workflows.WorkflowID(ev.Workspace, ev.ID)
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "replay-broken"}, workflows.EventWorkflowName, map[string]any{"event": ev})
	if err != nil {
		return err
	}
	if err := run.Get(ctx, nil); err == nil || !strings.Contains(err.Error(), "recorded on purpose") {
		return fmt.Errorf("event %s: got %v, want RoutingFailed", ev.ID, err)
	}
	return show(srv.HostPort, id, run.GetRunID(), filepath.Join(dir, "event_only_routing_failed_v3.json"))
}
