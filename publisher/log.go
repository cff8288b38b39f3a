package publisher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
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
	// RedeliveryOf is set on a redelivery: the workflow ID of the event
	// whose delivery it sent again.
	RedeliveryOf string `json:"redelivery_of,omitempty"`
}

// Deliveries returns the most recent deliveries to one webhook, newest
// first, each with its attempts. It reads Temporal visibility (the search
// attributes every event workflow carries), so an engineer sees the same
// list in the Web UI with the query it uses.
func (p *Publisher) Deliveries(ctx context.Context, ws, webhookID string, limit int) ([]LogEntry, error) {
	query, err := DeliveriesQuery(ws, webhookID)
	if err != nil {
		return nil, err
	}
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
		owner, eventID, ok := workflows.ParseWorkflowID(wid)
		redelivery := false
		if !ok {
			var deliveryID string
			owner, _, deliveryID, ok = workflows.ParseRedeliveryWorkflowID(wid)
			if ok {
				eventID, ok = workflows.SplitDeliveryID(deliveryID, webhookID)
				redelivery = true
			}
		}
		if !ok || owner != ws {
			continue // not an event workflow of this workspace
		}
		e := LogEntry{EventID: eventID, WorkflowID: wid, RunID: ex.GetExecution().GetRunId(), StartedAt: ex.GetStartTime().AsTime()}
		if v := ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchEventType.GetName()]; v != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(v, &e.EventType) // search attributes are never encrypted
		}
		if redelivery {
			e.RedeliveryOf = workflows.WorkflowID(ws, eventID)
		}
		o, err := p.show(ctx, ws, eventID, wid)
		if err != nil {
			e.Delivery = workflows.DeliveryResult{WebhookID: webhookID, Status: workflows.StatusFailed, Error: err.Error()}
			out = append(out, e)
			continue
		}
		found := false
		for _, d := range o.Deliveries {
			if d.WebhookID == webhookID {
				e.Delivery, found = d, true
			}
		}
		if !found {
			continue // another webhook whose key collides with this one's
		}
		out = append(out, e)
	}
	return out, nil
}

// DeliveriesQuery is the visibility query of one webhook's deliveries; the
// same text filters the Web UI's workflow list. The webhook is matched by
// its key in HariWebhookKeys (base64url: nothing to escape), and, for
// events started before that attribute existed, by its ID in
// HariWebhookIDs when the ID is plain enough to be quoted in Temporal's
// query language without escapes (letters, digits and - _ . : ~); quotes
// and backslashes are not escaped reliably by every visibility store (the
// dev server's SQLite store mismatches \ and times out on "), so an ID
// holding them is never put in a query. The workspace must be a valid
// workspace name.
func DeliveriesQuery(ws, webhookID string) (string, error) {
	if err := event.ValidateWorkspace(ws); err != nil {
		return "", err
	}
	if webhookID == "" {
		return "", fmt.Errorf("%w: webhook id is required", endpoint.ErrInvalid)
	}
	match := fmt.Sprintf("%s = '%s'", workflows.SearchWebhookKeys.GetName(), workflows.WebhookKey(webhookID))
	if plainID(webhookID) {
		match = fmt.Sprintf("(%s OR %s = '%s')", match, workflows.SearchWebhookIDs.GetName(), webhookID)
	}
	return fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND %s",
		workflows.EventWorkflowName, workflows.SearchWorkspace.GetName(), ws, match), nil
}

func plainID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:~", r)) {
			return false
		}
	}
	return s != ""
}
