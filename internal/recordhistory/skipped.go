package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// recordSkipped records, with the current code, into dir
// event_skipped_delivered_v2.json: an event that matched a disabled
// webhook and an active one, its delivery to the first skipped (listed in
// HariSkippedKeys) and to the second delivered, so its HariDeliveryStatus
// is delivered (version 2 of search-skipped-keys). It fails unless the
// event ends so. (event_skipped_partial.json was recorded by it under
// version 1, status partial.)
func recordSkipped(dir string) error {
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
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true, Router: reg})
	const ws = "replay-skipped"
	var ids []string
	for _, name := range []string{"disabled", "active"} {
		v, err := reg.Create(ctx, ws, webhook.Spec{Config: webhook.Config{Name: name, Entity: "opportunity",
			Events: []event.Type{event.StageChanged}, URL: rcv.URL + "/" + name, Fields: []string{"name"}}})
		if err != nil {
			return fmt.Errorf("create webhook %s: %w", name, err)
		}
		ids = append(ids, v.ID)
	}
	if _, err := reg.Disable(ctx, ws, ids[0], "replay: disabled on purpose", time.Time{}); err != nil {
		return err
	}
	ev := replayEvent("replay-skipped-partial-1", ws)
	r, err := p.Publish(ctx, workflows.EventInput{Event: ev})
	if err != nil {
		return err
	}
	o, err := p.Wait(ctx, ws, ev.ID)
	if err != nil {
		return err
	}
	want := map[string]string{ids[0]: workflows.StatusSkipped, ids[1]: workflows.StatusDelivered}
	for _, d := range o.Deliveries {
		if d.Status != want[d.WebhookID] {
			return fmt.Errorf("webhook %s: delivery %s, want %s", d.WebhookID, d.Status, want[d.WebhookID])
		}
	}
	desc, err := c.DescribeWorkflowExecution(ctx, r.WorkflowID, r.RunID)
	if err != nil {
		return err
	}
	var keys []string
	f := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SearchSkippedKeys.GetName()]
	if f == nil || converter.GetDefaultDataConverter().FromPayload(f, &keys) != nil || !slices.Equal(keys, []string{workflows.WebhookKey(ids[0])}) {
		return fmt.Errorf("HariSkippedKeys: got %v, want [%s]", keys, workflows.WebhookKey(ids[0]))
	}
	var status string
	f = desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SearchStatus.GetName()]
	if f == nil || converter.GetDefaultDataConverter().FromPayload(f, &status) != nil || status != workflows.StatusDelivered {
		return fmt.Errorf("HariDeliveryStatus: got %q, want %q", status, workflows.StatusDelivered)
	}
	return show(srv.HostPort, r.WorkflowID, r.RunID, filepath.Join(dir, "event_skipped_delivered_v2.json"))
}
