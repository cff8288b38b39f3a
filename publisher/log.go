package publisher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
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

// Deliveries returns the limit most recent deliveries to one webhook,
// newest first, each with its attempts (DeliveriesPage's pages, followed
// while more are wanted).
func (p *Publisher) Deliveries(ctx context.Context, ws, webhookID string, limit int) ([]LogEntry, error) {
	if limit < 1 {
		return nil, &QueryError{"limit", "must be at least 1"}
	}
	out := []LogEntry{}
	var token []byte
	for len(out) < limit {
		page, err := p.DeliveriesPage(ctx, ws, webhookID, LogQuery{PageSize: min(limit-len(out), MaxLogPage), PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Entries...)
		if token = page.NextPageToken; len(token) == 0 {
			break
		}
	}
	return out[:min(len(out), limit)], nil
}

// LogQuery narrows and pages a webhook's execution log. Every field is
// checked (Check) before it reaches the visibility query, which is built
// from fixed words only: no text of the caller's is ever put in it.
type LogQuery struct {
	// Status keeps the deliveries with this outcome (LogStatuses); "" keeps all.
	Status string
	// EventType keeps the deliveries of events of this type; "" keeps all.
	EventType event.Type
	// Since and Until keep events started at or after Since and before
	// Until; a zero time does not bound.
	Since, Until time.Time
	// PageSize is the most entries a page holds (1 to MaxLogPage).
	PageSize int
	// PageToken continues where a previous page's NextPageToken left off:
	// Temporal's own token, opaque.
	PageToken []byte
}

// LogStatuses are the delivery outcomes the log filters on.
var LogStatuses = []string{workflows.StatusPending, workflows.StatusDelivered, workflows.StatusFailed, workflows.StatusSkipped}

// MaxLogPage is the largest page of the log.
const MaxLogPage = 100

// LogPage is one page of a webhook's execution log, newest first.
// NextPageToken is empty on the last page. A page may hold fewer than
// PageSize entries when some events listed for the filter turn out to
// have a delivery to this webhook with another outcome (an event's status
// in visibility covers all of its deliveries).
type LogPage struct {
	Entries       []LogEntry `json:"deliveries"`
	NextPageToken []byte     `json:"-"`
}

// QueryError is a log query's bad field: Field names it.
type QueryError struct {
	Field, Message string
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes a QueryError an invalid input (event.ErrInvalid).
func (e *QueryError) Unwrap() error { return event.ErrInvalid }

// Check returns a *QueryError naming the first field of q that is out of
// range.
func (q LogQuery) Check() error {
	if q.Status != "" && !slices.Contains(LogStatuses, q.Status) {
		return &QueryError{"status", "must be one of " + strings.Join(LogStatuses, ", ")}
	}
	if q.EventType != "" && !q.EventType.Valid() {
		return &QueryError{"event_type", "must be one of " + typeNames()}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return &QueryError{"until", "must be after since"}
	}
	if q.PageSize < 1 || q.PageSize > MaxLogPage {
		return &QueryError{"page_size", fmt.Sprintf("must be a whole number from 1 to %d", MaxLogPage)}
	}
	return nil
}

// filter is the visibility condition of q's status, type and times, to
// add to DeliveriesQuery. An event's status covers all of its deliveries,
// so it keeps every event whose delivery to this webhook may have the
// status (partial: some delivered, some failed; pending or routing: this
// webhook's delivery may have ended while another one's is retried);
// DeliveriesPage then keeps the deliveries that do.
func (q LogQuery) filter(webhookID string) string {
	var and []string
	status := workflows.SearchStatus.GetName()
	switch q.Status {
	case workflows.StatusPending:
		and = append(and, fmt.Sprintf("%s IN ('%s', '%s')", status, workflows.StatusPending, workflows.StatusRouting))
	case workflows.StatusDelivered:
		and = append(and, fmt.Sprintf("%s IN ('%s', '%s', '%s', '%s')", status, workflows.StatusDelivered, workflows.StatusPartial, workflows.StatusPending, workflows.StatusRouting))
	case workflows.StatusFailed:
		and = append(and, fmt.Sprintf("%s IN ('%s', '%s', '%s', '%s')", status, workflows.StatusFailed, workflows.StatusPartial, workflows.StatusPending, workflows.StatusRouting))
	case workflows.StatusSkipped:
		and = append(and, fmt.Sprintf("(%s = '%s' OR %s = '%s')", status, workflows.StatusSkipped, workflows.SearchSkippedKeys.GetName(), workflows.WebhookKey(webhookID)))
	}
	if q.EventType != "" {
		and = append(and, fmt.Sprintf("%s = '%s'", workflows.SearchEventType.GetName(), q.EventType))
	}
	if !q.Since.IsZero() {
		and = append(and, fmt.Sprintf("StartTime >= '%s'", q.Since.UTC().Format(time.RFC3339Nano)))
	}
	if !q.Until.IsZero() {
		and = append(and, fmt.Sprintf("StartTime < '%s'", q.Until.UTC().Format(time.RFC3339Nano)))
	}
	if len(and) == 0 {
		return ""
	}
	return " AND " + strings.Join(and, " AND ")
}

// logPagesPerCall bounds the visibility pages one call reads while the
// ones it read held no entry of this webhook with the status asked for.
const logPagesPerCall = 4

// DeliveriesPage returns one page of the deliveries to one webhook, newest
// first, each with its attempts. It reads Temporal visibility (the search
// attributes every event workflow carries), so an engineer sees the same
// list in the Web UI with the query it uses, then each event's outcome.
// An outcome that can no longer change (its workflow ended) is read once
// and kept (a bounded cache), so refreshing a page costs one list call
// plus the reads of its deliveries still under way.
func (p *Publisher) DeliveriesPage(ctx context.Context, ws, webhookID string, q LogQuery) (LogPage, error) {
	if err := q.Check(); err != nil {
		return LogPage{}, err
	}
	query, err := DeliveriesQuery(ws, webhookID)
	if err != nil {
		return LogPage{}, err
	}
	query += q.filter(webhookID)
	out := LogPage{Entries: []LogEntry{}}
	token := q.PageToken
	for range logPagesPerCall {
		resp, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: int32(q.PageSize), NextPageToken: token})
		if err != nil {
			var bad *serviceerror.InvalidArgument
			if len(token) > 0 && errors.As(err, &bad) {
				return LogPage{}, &QueryError{"page_token", "is not a token of this log"}
			}
			return LogPage{}, fmt.Errorf("list deliveries: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			e, ok := p.logEntry(ctx, ws, webhookID, ex)
			if ok && (q.Status == "" || e.Delivery.Status == q.Status) {
				out.Entries = append(out.Entries, e)
			}
		}
		token = resp.GetNextPageToken()
		if len(out.Entries) > 0 || len(token) == 0 {
			break
		}
	}
	out.NextPageToken = token
	return out, nil
}

// logEntry is the log entry of one listed workflow; false when it is not
// one of this webhook's deliveries in this workspace.
func (p *Publisher) logEntry(ctx context.Context, ws, webhookID string, ex *workflowpb.WorkflowExecutionInfo) (LogEntry, bool) {
	if ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		return LogEntry{}, false // its latest run is listed too, and tells the outcome
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
		return LogEntry{}, false // not an event workflow of this workspace
	}
	e := LogEntry{EventID: eventID, WorkflowID: wid, RunID: ex.GetExecution().GetRunId(), StartedAt: ex.GetStartTime().AsTime()}
	if v := ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchEventType.GetName()]; v != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(v, &e.EventType) // search attributes are never encrypted
	}
	if redelivery {
		e.RedeliveryOf = workflows.WorkflowID(ws, eventID)
	}
	ended := ex.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	key := endedKey{workflowID: wid, runID: e.RunID, webhookID: webhookID}
	if d, found, ok := p.ended.get(key); ok {
		if !found {
			return LogEntry{}, false
		}
		e.Delivery = d
		return e, true
	}
	o, err := p.show(ctx, ws, eventID, wid)
	if err != nil {
		e.Delivery = workflows.DeliveryResult{WebhookID: webhookID, Status: workflows.StatusFailed, Error: err.Error()}
		return e, true // not kept: the next read may succeed
	}
	found := false
	for _, d := range o.Deliveries {
		if d.WebhookID == webhookID {
			e.Delivery, found = d, true
		}
	}
	if ended && o.Done {
		p.ended.put(key, e.Delivery, found)
	}
	// Not found: another webhook whose key collides with this one's.
	return e, found
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

func typeNames() string {
	names := make([]string, len(event.Types))
	for i, t := range event.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
