package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// recordEventOnly records an event started as another SDK may start it,
// with only the event (no targets, no routed targets), in a workspace
// without a registry, and writes its history to out. Recorded with the
// code before routing inside the workflow (commit d4c7177) it is
// testdata/replay/event_only_before_routing.json: the workflow completed
// at once with no delivery, and must still replay so:
//
//	go run ./internal/recordhistory eventonly testdata/replay/event_only_before_routing.json
func recordEventOnly(out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	ev := event.Event{
		ID: "replay-event-only", Type: event.StageChanged, Entity: "opportunity", Timestamp: "2026-03-31T14:30:00Z",
		Workspace: "replay-no-registry", Record: event.Values(map[string]any{"id": "opp-1", "name": "Sample deal"}),
		Changes: map[string]event.Change{"stage": event.ChangeOf("qualification", "proposal")},
	}
	id := workflows.WorkflowID(ev.Workspace, ev.ID)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.EventWorkflowName, map[string]any{"event": ev})
	if err != nil {
		return err
	}
	if err := run.Get(ctx, nil); err != nil {
		return fmt.Errorf("event workflow: %w", err)
	}
	path, err := devtest.TemporalPath()
	if err != nil {
		return err
	}
	cmd := exec.Command(path, "workflow", "show", "--address", srv.HostPort, "-w", id, "-o", "json")
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	return cmd.Run()
}

// recordEventRouted records, with the current code, into dir three events
// started with only the event, as another SDK may (version 1 of
// route-in-workflow was recorded as event_only_routed.json and
// event_only_no_match.json; these are version 3):
//   - event_only_routed_v3.json: the workflow routes it to the registry's
//     matching webhook (no secret: this recorder has no codec keys) and
//     delivers it;
//   - event_only_no_match_v3.json: a workspace without a registry, so the
//     workflow ends no_match;
//   - event_only_wrong_id_v3.json: started under a workflow ID that is not
//     its workspace's claim on the event ID, so the workflow fails
//     InvalidEvent before it asks the registry.
//
// It fails unless each ends as described.
func recordEventRouted(dir string) error {
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	rcv := okReceiver()
	defer rcv.Close()
	stopWorker, err := startWorker(c, nil, rcv)
	if err != nil {
		return err
	}
	defer stopWorker()
	reg := registry.New(c, registry.Options{})
	if _, err := reg.Create(ctx, "replay-routed", webhook.Spec{Config: webhook.Config{Name: "replay", Entity: "opportunity",
		Events: []event.Type{event.StageChanged}, URL: rcv.URL, Fields: []string{"name"}}}); err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	for _, tt := range []struct {
		ev      event.Event
		file    string
		noMatch bool
	}{
		{replayEvent("replay-routed-1", "replay-routed"), "event_only_routed_v3.json", false},
		{replayEvent("replay-no-match-1", "replay-no-registry"), "event_only_no_match_v3.json", true},
	} {
		id := workflows.WorkflowID(tt.ev.Workspace, tt.ev.ID)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.EventWorkflowName, map[string]any{"event": tt.ev})
		if err != nil {
			return err
		}
		var res workflows.EventResult
		if err := run.Get(ctx, &res); err != nil {
			return fmt.Errorf("event %s: %w", tt.ev.ID, err)
		}
		if res.NoMatch != tt.noMatch || (!tt.noMatch && (len(res.Deliveries) != 1 || res.Deliveries[0].Status != workflows.StatusDelivered)) {
			return fmt.Errorf("event %s: got %+v, want no_match=%v and, if matched, one delivery delivered", tt.ev.ID, res, tt.noMatch)
		}
		if err := show(srv.HostPort, id, run.GetRunID(), filepath.Join(dir, tt.file)); err != nil {
			return err
		}
	}
	// Another workspace's event under this workspace's ID: refused.
	ev := replayEvent("replay-wrong-id-1", "replay-routed")
	id := workflows.WorkflowID("replay-other", ev.ID)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.EventWorkflowName, map[string]any{"event": ev})
	if err != nil {
		return err
	}
	if err := run.Get(ctx, nil); err == nil || !strings.Contains(err.Error(), "does not match the event") {
		return fmt.Errorf("event %s under workflow id %s: got %v, want InvalidEvent", ev.ID, id, err)
	}
	return show(srv.HostPort, id, run.GetRunID(), filepath.Join(dir, "event_only_wrong_id_v3.json"))
}
