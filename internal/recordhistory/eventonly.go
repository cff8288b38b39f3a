package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/service"
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
	w, err := service.NewWorker(c, service.Options{})
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
