package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// recordRecovery records, with the current code, into dir:
//   - recovery.json: a WebhookRecovery run that finds a webhook's two
//     failed deliveries and redelivers them, delivered;
//   - event_skipped.json: an event whose webhook was disabled, its
//     delivery skipped without an attempt.
//
// It fails unless both end as described.
func recordRecovery(dir string) error {
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	var down atomic.Bool
	down.Store(true)
	rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	reg := registry.New(c, registry.Options{})
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true, Router: reg})
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, Recovery: p, HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(&devtest.Receiver{Server: rcv})})})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	const ws = "replay-recover"
	v, err := reg.Create(ctx, ws, webhook.Spec{Config: webhook.Config{Name: "replay", Entity: "opportunity",
		Events: []event.Type{event.StageChanged}, URL: rcv.URL, Fields: []string{"name"}}})
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	since := time.Now().Add(-time.Second)
	for i := range 2 {
		ev := replayEvent(fmt.Sprintf("replay-recover-%d", i+1), ws)
		if _, err := p.Publish(ctx, workflows.EventInput{Event: ev}); err != nil {
			return err
		}
		if _, err := p.Wait(ctx, ws, ev.ID); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		page, err := p.FailedDeliveries(ctx, activities.FailedQuery{Workspace: ws, WebhookID: v.ID, Since: since, Until: time.Now(), Max: 10})
		if err != nil {
			return err
		}
		if ids := page.DeliveryIDs; len(ids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("visibility lists %d failed deliveries, want 2", len(page.DeliveryIDs))
		}
	}
	down.Store(false)
	job, err := p.StartRecovery(ctx, ws, v.ID, since)
	if err != nil {
		return err
	}
	var prog workflows.RecoveryProgress
	if err := c.GetWorkflow(ctx, job.WorkflowID, "").Get(ctx, &prog); err != nil {
		return err
	}
	if prog.State != workflows.RecoveryDone || prog.Total != 2 || prog.Sent != 2 {
		return fmt.Errorf("recovery: got %+v, want done with 2 of 2 sent", prog)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, job.WorkflowID, "")
	if err != nil {
		return err
	}
	if err := show(srv.HostPort, job.WorkflowID, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), filepath.Join(dir, "recovery.json")); err != nil {
		return err
	}

	if _, err := reg.Disable(ctx, ws, v.ID, "replay: disabled on purpose", time.Time{}); err != nil {
		return err
	}
	ev := replayEvent("replay-skipped-1", ws)
	r, err := p.Publish(ctx, workflows.EventInput{Event: ev})
	if err != nil {
		return err
	}
	o, err := p.Wait(ctx, ws, ev.ID)
	if err != nil {
		return err
	}
	if d := o.Deliveries[0]; d.Status != workflows.StatusSkipped || len(d.Attempts) != 0 {
		return fmt.Errorf("disabled webhook: delivery %s with %d attempts, want skipped with none", d.Status, len(d.Attempts))
	}
	return show(srv.HostPort, r.WorkflowID, r.RunID, filepath.Join(dir, "event_skipped.json"))
}
