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
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/workflows"
)

// RecoveryJob says what a recover request started (or found).
type RecoveryJob struct {
	JobID      string `json:"job_id"`
	WorkflowID string `json:"workflow_id"`
	// Duplicate is true when the same recovery (same webhook, same since)
	// is running already: nothing new was started.
	Duplicate bool `json:"duplicate"`
}

// RecoveryRunningError refuses a recovery while another recovery of the
// same webhook (since another time) runs: one at a time per webhook.
type RecoveryRunningError struct {
	JobID string
	Since time.Time
}

func (e *RecoveryRunningError) Error() string {
	return fmt.Sprintf("recovery %s of this webhook (since %s) is still running; wait for it or cancel it first", e.JobID, e.Since.UTC().Format(time.RFC3339))
}

// Recovery is a recovery job's progress and state.
type Recovery struct {
	JobID string `json:"job_id"`
	workflows.RecoveryProgress
	// Done is true once the job has ended (done or canceled).
	Done bool `json:"done"`
}

// StartRecovery starts the recovery of webhook webhookID's failed
// deliveries of events published since since (up to now): a durable
// workflow that redelivers each once, a few at a time. The same request
// twice gives the same job.
func (p *Publisher) StartRecovery(ctx context.Context, ws, webhookID string, since time.Time) (RecoveryJob, error) {
	if err := event.ValidateWorkspace(ws); err != nil {
		return RecoveryJob{}, err
	}
	now := time.Now().UTC()
	if since.IsZero() || since.After(now) {
		return RecoveryJob{}, fmt.Errorf("%w: %w", event.ErrInvalid, &event.FieldError{Field: "since", Message: "must be an RFC 3339 time in the past, such as 2026-03-31T10:00:00Z"})
	}
	if p.targets == nil {
		return RecoveryJob{}, errors.New("recover: no webhook registry is configured")
	}
	if _, err := p.targets.Target(ctx, ws, webhookID); err != nil {
		return RecoveryJob{}, err
	}
	if err := p.sendable(ctx, ws, webhookID, false); err != nil {
		return RecoveryJob{}, err
	}
	// One workflow ID per webhook: a start while its recovery runs fails
	// (the same request is a duplicate, another is refused); once it has
	// ended, a new run starts.
	job := workflows.RecoveryJobID(webhookID)
	id := workflows.RecoveryWorkflowID(ws, job)
	r := RecoveryJob{JobID: job, WorkflowID: id}
	_, err := p.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                p.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Priority:                                 temporal.Priority{FairnessKey: workflows.FairnessKey(ws)},
	}, workflows.RecoveryWorkflowName, workflows.RecoveryInput{Workspace: ws, WebhookID: webhookID, Since: since.UTC(), Until: now, Concurrency: p.recoveryConcurrency})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		running, err := p.recoveryInput(ctx, id)
		if err != nil {
			return RecoveryJob{}, err
		}
		if running.Workspace != ws || running.WebhookID != webhookID || !running.Since.Equal(since.UTC()) {
			return RecoveryJob{}, &RecoveryRunningError{JobID: job, Since: running.Since}
		}
		r.Duplicate = true
		return r, nil
	}
	if err != nil {
		return RecoveryJob{}, fmt.Errorf("start recovery %s: %w", id, err)
	}
	return r, nil
}

// Recovery returns a recovery job's progress.
func (p *Publisher) Recovery(ctx context.Context, ws, webhookID, job string) (Recovery, error) {
	id, err := p.recoveryRef(ctx, ws, webhookID, job)
	if err != nil {
		return Recovery{}, err
	}
	desc, err := p.c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return Recovery{}, fmt.Errorf("describe %s: %w", id, err)
	}
	v, err := p.c.QueryWorkflow(ctx, id, "", workflows.QueryRecoveryProgress)
	if err != nil {
		return Recovery{}, fmt.Errorf("query %s: %w", id, err)
	}
	out := Recovery{JobID: job}
	if err := v.Get(&out.RecoveryProgress); err != nil {
		return Recovery{}, fmt.Errorf("decode progress of %s: %w", id, err)
	}
	switch desc.GetWorkflowExecutionInfo().GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		out.Done, out.State, out.Running = true, workflows.RecoveryCanceled, 0
	default:
		out.Done = true
	}
	return out, nil
}

// CancelRecovery cancels a recovery job: it starts no more redeliveries
// (those under way finish).
func (p *Publisher) CancelRecovery(ctx context.Context, ws, webhookID, job string) error {
	id, err := p.recoveryRef(ctx, ws, webhookID, job)
	if err != nil {
		return err
	}
	if err := p.c.CancelWorkflow(ctx, id, ""); err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	return nil
}

// recoveryRef is the workflow ID of workspace ws's recovery job of
// webhookID, checked against the job's own input.
func (p *Publisher) recoveryRef(ctx context.Context, ws, webhookID, job string) (string, error) {
	if err := event.ValidateWorkspace(ws); err != nil {
		return "", err
	}
	if !workflows.ValidRecoveryJobID(job) {
		return "", fmt.Errorf("%w: recovery %s", ErrNotFound, job)
	}
	id := workflows.RecoveryWorkflowID(ws, job)
	in, err := p.recoveryInput(ctx, id)
	if err != nil {
		return "", err
	}
	if in.Workspace != ws || in.WebhookID != webhookID {
		return "", fmt.Errorf("%w: recovery %s", ErrNotFound, job)
	}
	return id, nil
}

// recoveryInput is the input of recovery workflow id's latest run.
func (p *Publisher) recoveryInput(ctx context.Context, id string) (workflows.RecoveryInput, error) {
	it := p.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	e, err := it.Next()
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return workflows.RecoveryInput{}, fmt.Errorf("%w: recovery %s", ErrNotFound, id)
		}
		return workflows.RecoveryInput{}, fmt.Errorf("read recovery %s: %w", id, err)
	}
	var in workflows.RecoveryInput
	attrs := e.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil || p.dc.FromPayloads(attrs.GetInput(), &in) != nil {
		return workflows.RecoveryInput{}, fmt.Errorf("%w: recovery %s", ErrNotFound, id)
	}
	return in, nil
}

// FailedDeliveries lists the delivery IDs of webhook q.WebhookID's
// events started in [q.Since, q.Until] and after q.After whose delivery to
// it failed (or was skipped, the webhook disabled), oldest first. It reads
// visibility to the end (failed, partial and skipped events of the
// webhook, and events that list it in HariSkippedKeys; visibility lists
// newest first and cannot order by start time), keeps the q.Max oldest events by start time and workflow ID, and reads
// each one's result; Next is the last of them when more remain. So
// successive batches walk the whole backlog from the oldest.
// Redeliveries are not listed (their originals are).
func (p *Publisher) FailedDeliveries(ctx context.Context, q activities.FailedQuery) (activities.FailedPage, error) {
	query, err := DeliveriesQuery(q.Workspace, q.WebhookID)
	if err != nil {
		return activities.FailedPage{}, err
	}
	if q.Max < 1 {
		return activities.FailedPage{}, fmt.Errorf("failed deliveries: max must be at least 1, got %d", q.Max)
	}
	since := q.Since
	if q.After != nil && q.After.StartTime.After(since) {
		since = q.After.StartTime
	}
	// An event delivered elsewhere whose delivery to this webhook was
	// skipped is delivered: HariSkippedKeys finds it.
	query += fmt.Sprintf(" AND (%s IN ('%s', '%s', '%s') OR %s = '%s') AND StartTime >= '%s' AND StartTime <= '%s'",
		workflows.SearchStatus.GetName(), workflows.StatusFailed, workflows.StatusPartial, workflows.StatusSkipped,
		workflows.SearchSkippedKeys.GetName(), workflows.WebhookKey(q.WebhookID),
		since.UTC().Format(time.RFC3339Nano), q.Until.UTC().Format(time.RFC3339Nano))
	progress := q.Progress
	if progress == nil {
		progress = func(int, int) {}
	}
	var found []activities.Cursor
	more := false
	keepOldest := func() {
		slices.SortFunc(found, func(a, b activities.Cursor) int {
			if c := a.StartTime.Compare(b.StartTime); c != 0 {
				return c
			}
			return strings.Compare(a.WorkflowID, b.WorkflowID)
		})
		if len(found) > q.Max {
			found, more = found[:q.Max], true
		}
	}
	var token []byte
	pages := 0
	for {
		pages++
		resp, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 500, NextPageToken: token})
		if err != nil {
			return activities.FailedPage{}, fmt.Errorf("list failed deliveries: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			wid := ex.GetExecution().GetWorkflowId()
			at := ex.GetStartTime().AsTime()
			owner, _, ok := workflows.ParseWorkflowID(wid)
			if !ok || owner != q.Workspace || ex.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED || q.After.Before(at, wid) {
				continue // a redelivery, another workspace's, not finished, or in a previous batch
			}
			found = append(found, activities.Cursor{StartTime: at, WorkflowID: wid})
		}
		if len(found) > 4*q.Max {
			keepOldest() // bounded memory however long the backlog
		}
		progress(pages, 0)
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	keepOldest()
	out := activities.FailedPage{DeliveryIDs: []string{}}
	for i, f := range found {
		_, eventID, _ := workflows.ParseWorkflowID(f.WorkflowID)
		var res workflows.EventResult
		if err := p.c.GetWorkflow(ctx, f.WorkflowID, "").Get(ctx, &res); err != nil {
			return activities.FailedPage{}, fmt.Errorf("read the outcome of %s: %w", f.WorkflowID, err)
		}
		for _, d := range res.Deliveries {
			if d.WebhookID == q.WebhookID && (d.Status == workflows.StatusFailed || d.Status == workflows.StatusSkipped) {
				out.DeliveryIDs = append(out.DeliveryIDs, workflows.DeliveryID(eventID, q.WebhookID))
			}
		}
		progress(pages, i+1)
	}
	if more && len(found) > 0 {
		last := found[len(found)-1]
		out.Next = &last
	}
	return out, nil
}

// RecoverDelivery starts the recovery redelivery of one delivery, or
// finds it started, and returns its ID. A delivery that can no longer be
// sent (its webhook deleted, its event gone) fails with
// workflows.ErrTypeRecoveryRefused.
func (p *Publisher) RecoverDelivery(ctx context.Context, ws, webhookID, deliveryID string) (string, error) {
	// The webhook deactivated or disabled meanwhile: the recovery stops,
	// saying why.
	if err := p.sendable(ctx, ws, webhookID, false); errors.Is(err, ErrInactive) || errors.Is(err, ErrDisabled) {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeRecoveryStopped, err)
	} else if err != nil {
		return "", err
	}
	// A delivery already sent again with the Redeliver button (without a
	// key) and delivered, or whose such redelivery still runs, is not sent
	// again: that redelivery is the recovery's.
	if id, err := p.keylessRedelivery(ctx, ws, deliveryID); err != nil || id != "" {
		return id, err
	}
	// The delivery's recovery redeliveries in turn: one running or
	// delivered is reused; after one that failed, the next is started.
	for n := 1; n <= workflows.MaxRecoveryRedeliveries; n++ {
		key := workflows.RecoveryRedeliveryKey(n)
		id := workflows.RedeliveryWorkflowID(ws, hashedKey(key), deliveryID)
		state, err := p.redeliveryState(ctx, id)
		if err != nil {
			return "", err
		}
		switch state {
		case redeliveryRunning, redeliveryDelivered:
			return id, nil
		case redeliveryFailed:
			continue
		}
		r, err := p.Redeliver(ctx, ws, webhookID, deliveryID, RedeliverOptions{Key: key})
		if errors.Is(err, ErrNotFound) || errors.Is(err, event.ErrInvalid) || errors.Is(err, ErrInactive) {
			return "", temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeRecoveryRefused, err)
		}
		return r.RedeliveryID, err
	}
	err := fmt.Errorf("delivery %s was recovered %d times already without success", deliveryID, workflows.MaxRecoveryRedeliveries)
	return "", temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeRecoveryRefused, err)
}

// RedeliveryStatus waits for a redelivery's outcome.
func (p *Publisher) RedeliveryStatus(ctx context.Context, ws, redeliveryID string) (string, string, error) {
	o, err := p.WaitRedelivery(ctx, ws, redeliveryID)
	if err != nil {
		return "", "", err
	}
	if o.Error != "" || len(o.Deliveries) == 0 {
		return workflows.StatusFailed, o.Error, nil
	}
	return o.Deliveries[0].Status, o.Deliveries[0].Error, nil
}

// A redelivery's state, as far as a recovery cares.
const (
	redeliveryNone = iota
	redeliveryRunning
	redeliveryDelivered
	redeliveryFailed // ended any other way
)

// redeliveryState reads redelivery workflow id's state.
func (p *Publisher) redeliveryState(ctx context.Context, id string) (int, error) {
	desc, err := p.c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return redeliveryNone, nil
	}
	if err != nil {
		return 0, fmt.Errorf("describe %s: %w", id, err)
	}
	switch desc.GetWorkflowExecutionInfo().GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return redeliveryRunning, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
	default:
		return redeliveryFailed, nil
	}
	var res workflows.EventResult
	if err := p.c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		return 0, fmt.Errorf("read the outcome of %s: %w", id, err)
	}
	if len(res.Deliveries) == 1 && res.Deliveries[0].Status == workflows.StatusDelivered {
		return redeliveryDelivered, nil
	}
	return redeliveryFailed, nil
}

// keylessRedelivery is the ID of a keyless redelivery of deliveryID that
// runs or was delivered, or "".
func (p *Publisher) keylessRedelivery(ctx context.Context, ws, deliveryID string) (string, error) {
	for n := 1; n <= MaxRedeliveries; n++ {
		id := workflows.RedeliveryWorkflowID(ws, fmt.Sprintf("r%d", n), deliveryID)
		state, err := p.redeliveryState(ctx, id)
		if err != nil {
			return "", err
		}
		switch state {
		case redeliveryNone:
			return "", nil
		case redeliveryRunning, redeliveryDelivered:
			return id, nil
		}
	}
	return "", nil
}
