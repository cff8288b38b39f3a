package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// lightRouted is scenario (d) for events routed to a configured webhook
// (a registry webhook with a secret), at the same 10 events/s on the same
// worker: through the API without targets (the publisher asks the
// registry, then starts the workflow with the routed targets), and
// through a remote Go client that starts WebhookEvent with only the event,
// as any SDK may (the workflow asks the registry). Each line also gives
// the CPU time each process spent per event.
func lightRouted(ctx context.Context, e *env, w *workerProc, url string) error {
	reg := registry.New(e.tc, registry.Options{TaskQueue: e.run, Sealer: e.srv.Keys})
	secret := "bench-secret-2026"
	for _, ws := range []string{"wsdapi", "wsdraw"} {
		if _, err := reg.Create(ctx, ws, webhook.Spec{Config: webhook.Config{Name: "bench", Entity: "opportunity",
			Events: []event.Type{event.StageChanged}, URL: url}, Secret: &secret}); err != nil {
			return fmt.Errorf("create the webhook of %s: %w", ws, err)
		}
	}
	doors := []struct {
		name, ws string
		start    func(event.Event) error
	}{
		{"ours via API, routed", "wsdapi", func(ev event.Event) error { return w.publishAPI(ctx, ev, nil) }},
		{"ours via Go client, event only", "wsdraw", func(ev event.Event) error {
			_, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                       workflows.WorkflowID(ev.Workspace, ev.ID),
				TaskQueue:                e.run,
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				Priority:                 temporal.Priority{FairnessKey: workflows.FairnessKey(ev.Workspace)},
			}, workflows.EventWorkflowName, workflows.EventInput{Event: ev})
			return err
		}},
	}
	for _, d := range doors {
		evs := make([]event.Event, 10**lightSec)
		for i := range evs {
			evs[i] = benchEvent(d.ws, i, e.run)
		}
		cpu := e.cpuNow(w)
		steal := stealMS()
		var calls callTimes
		start := time.Now()
		sent, errs := publish(evs, 0, 100*time.Millisecond, calls.timed(d.start))
		res, err := e.measure(d.name, evs, sent, start, errs, 5*time.Minute)
		if err != nil {
			return err
		}
		res.cpu = cpuLine(res.n, cpu, e.cpuNow(w)) + "\n" + e.split(evs, sent, &calls, steal)
		fmt.Println("   ", res)
	}
	return nil
}

// serverPIDOf finds the dev server listening on hostPort (other dev
// servers may run on the machine).
func serverPIDOf(hostPort string) int {
	_, port, _ := strings.Cut(hostPort, ":")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), "start-dev") {
			continue
		}
		if strings.Contains(string(cmd), "\x00--port\x00"+port+"\x00") {
			var pid int
			if _, err := fmt.Sscan(e.Name(), &pid); err == nil {
				return pid
			}
		}
	}
	return serverPID()
}
