package publisher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/hari-crm/webhooks/workflows"
)

// LogEntry is one delivery of a webhook in its execution log.
type LogEntry struct {
	EventID    string                   `json:"event_id"`
	WorkflowID string                   `json:"workflow_id"`
	RunID      string                   `json:"run_id"`
	EventType  string                   `json:"event_type"`
	StartedAt  time.Time                `json:"started_at"`
	Delivery   workflows.DeliveryResult `json:"delivery"`
}

// Deliveries returns the most recent deliveries to one webhook, newest
// first, each with its attempts. It reads Temporal visibility (the search
// attributes every event workflow carries), so an engineer sees the same
// list in the Web UI with the query it uses.
func (p *Publisher) Deliveries(ctx context.Context, ws, webhookID string, limit int) ([]LogEntry, error) {
	query := DeliveriesQuery(ws, webhookID)
	resp, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out := []LogEntry{}
	for _, ex := range resp.GetExecutions() {
		if len(out) >= limit {
			break
		}
		wid := ex.GetExecution().GetWorkflowId()
		eventID := strings.TrimPrefix(wid, workflows.WorkflowID(""))
		e := LogEntry{EventID: eventID, WorkflowID: wid, RunID: ex.GetExecution().GetRunId(), StartedAt: ex.GetStartTime().AsTime()}
		if v := ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchEventType.GetName()]; v != nil {
			_ = p.dc.FromPayload(v, &e.EventType)
		}
		o, err := p.Show(ctx, eventID)
		if err != nil {
			e.Delivery = workflows.DeliveryResult{WebhookID: webhookID, Status: workflows.StatusFailed, Error: err.Error()}
			out = append(out, e)
			continue
		}
		for _, d := range o.Deliveries {
			if d.WebhookID == webhookID {
				e.Delivery = d
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// DeliveriesQuery is the visibility query of one webhook's deliveries; the
// same text filters the Web UI's workflow list.
func DeliveriesQuery(ws, webhookID string) string {
	return fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND %s = '%s'",
		workflows.EventWorkflowName, workflows.SearchWorkspace.GetName(), ws, workflows.SearchWebhookIDs.GetName(), webhookID)
}
