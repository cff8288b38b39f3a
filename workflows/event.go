// Package workflows orchestrates deliveries on Temporal. EventWorkflow is
// the durable life of one CRM event: one delivery per target, each with its
// attempts and outcome.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/payload"
)

// The polyglot contract: any Temporal SDK can start an event's deliveries
// with this workflow type, task queue, workflow ID and JSON input.
const (
	// EventWorkflowName is the registered workflow type.
	EventWorkflowName = "WebhookEvent"
	// TaskQueue is where the worker polls.
	TaskQueue = "hari-webhooks"
	// QueryStatus returns the EventResult so far.
	QueryStatus = "status"
	// workflowIDPrefix + event ID is the workflow ID.
	workflowIDPrefix = "webhook-event-"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// WorkflowID is the ID of an event's workflow. It is deterministic, so a
// second publish of the same event ID is refused as a duplicate.
func WorkflowID(eventID string) string { return workflowIDPrefix + eventID }

// DeliverActivityID names the DeliverWebhook activity of one webhook, so
// its pending attempts can be matched to the delivery.
func DeliverActivityID(webhookID string) string { return "deliver/" + webhookID }

// EventResult is the outcome of every delivery of an event; the status
// query returns it while deliveries are still under way.
type EventResult struct {
	EventID    string           `json:"event_id"`
	Deliveries []DeliveryResult `json:"deliveries"`
}

// DeliveryResult is one delivery's outcome and attempts.
type DeliveryResult struct {
	WebhookID  string             `json:"webhook_id"`
	DeliveryID string             `json:"delivery_id"`
	URL        string             `json:"url"`
	Status     string             `json:"status"`
	Error      string             `json:"error,omitempty"`
	Attempts   []delivery.Attempt `json:"attempts"`
}

// DeliveryID is the stable ID of one delivery (X-Webhook-Id), the same on
// every attempt, for de-duplication by receivers.
func DeliveryID(eventID, webhookID string) string { return eventID + ":" + webhookID }

var a *activities.Activities

// RetryPolicy returns the DeliverWebhook retry policy when done attempts were
// already made: the waits continue delivery.Schedule where it stands (1 s,
// 2 s, 4 s from the start) and the attempts add up to delivery.MaxAttempts.
// 4xx responses other than 408 and 429 are never retried.
func RetryPolicy(done int) *temporal.RetryPolicy {
	next := delivery.Schedule[min(done, len(delivery.Schedule)-1)]
	return &temporal.RetryPolicy{
		InitialInterval:        next,
		BackoffCoefficient:     delivery.BackoffCoefficient,
		MaximumInterval:        delivery.Schedule[len(delivery.Schedule)-1],
		MaximumAttempts:        int32(delivery.MaxAttempts - done),
		NonRetryableErrorTypes: delivery.NonRetryableErrorTypes,
	}
}

// activityTimeout bounds one DeliverWebhook activity attempt: the 15 s HTTP
// attempt plus room to wait for a workspace slot.
const activityTimeout = delivery.AttemptTimeout + 45*time.Second

// EventWorkflow delivers one event to each of its targets, in parallel.
//
// Each delivery makes attempt 1 as a local activity (one marker event in
// history, no round trip through the task queue). A 2xx or a final 4xx ends
// the delivery there. A retryable failure waits delivery.Schedule[0] on a
// timer and hands the rest to the DeliverWebhook activity, whose retry
// policy makes the remaining attempts 2 s and 4 s apart. If the workspace
// had no free slot for attempt 1, DeliverWebhook makes all four attempts
// under the full 1/2/4 s policy.
func EventWorkflow(ctx workflow.Context, in EventInput) (EventResult, error) {
	if err := in.Event.Validate(); err != nil {
		return EventResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidEvent", nil)
	}
	if in.Event.ID == "" {
		return EventResult{}, temporal.NewNonRetryableApplicationError("event id is required", "InvalidEvent", nil)
	}
	dests := destinations(ctx, in)
	seen := map[string]bool{}
	for _, t := range dests {
		if seen[t.ID] {
			return EventResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("target id %q appears twice", t.ID), "InvalidEvent", nil)
		}
		seen[t.ID] = true
	}
	res := EventResult{EventID: in.Event.ID, Deliveries: make([]DeliveryResult, len(dests))}
	for i, t := range dests {
		res.Deliveries[i] = DeliveryResult{WebhookID: t.ID, DeliveryID: DeliveryID(in.Event.ID, t.ID), URL: t.URL, Status: StatusPending, Attempts: []delivery.Attempt{}}
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (EventResult, error) { return res, nil }); err != nil {
		return EventResult{}, fmt.Errorf("set query handler: %w", err)
	}

	wg := workflow.NewWaitGroup(ctx)
	for i := range dests {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			deliver(ctx, in.Event, dests[i], &res.Deliveries[i])
		})
	}
	wg.Wait(ctx)
	for _, d := range res.Deliveries {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": d.Status}).Counter("hari_webhook_deliveries_total").Inc(1)
	}
	// One upsert, in the final workflow task, records the outcome for the
	// execution log (and sets the other attributes when the starter did not).
	updates := searchUpdates(in, eventStatus(res.Deliveries))
	if _, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(SearchWorkspace); ok {
		updates = updates[:1] // the starter set the rest
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("record the outcome in search attributes", "error", err)
	}
	return res, nil
}

// deliver runs one delivery to its outcome, updating d as it goes.
func deliver(ctx workflow.Context, ev event.Event, t destination, d *DeliveryResult) {
	logger := workflow.GetLogger(ctx)
	if t.Refused != "" {
		d.Status, d.Error = StatusFailed, t.Refused
		return
	}
	if err := (endpoint.Target{ID: t.ID, URL: t.URL, Secret: t.Secret, Fields: t.Fields}).Validate(); err != nil {
		d.Status, d.Error = StatusFailed, err.Error()
		return
	}
	body, err := payload.Build(ev, t.Fields)
	if err != nil {
		d.Status, d.Error = StatusFailed, fmt.Sprintf("build payload: %v", err)
		return
	}
	in := activities.DeliverInput{
		DeliveryID:           d.DeliveryID,
		EventID:              ev.ID,
		EventType:            string(ev.Type),
		Workspace:            ev.Workspace,
		WebhookID:            t.ID,
		URL:                  t.URL,
		Secret:               t.Secret,
		SealedSecret:         t.SealedSecret,
		PreviousSealedSecret: t.PreviousSealedSecret,
		PreviousUntil:        t.PreviousUntil,
		Bound:                !t.Legacy,
		NoSecretHeader:       t.NoSecretHeader,
		Body:                 body,
	}

	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: delivery.AttemptTimeout + 5*time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var first activities.FirstResult
	err = workflow.ExecuteLocalActivity(lctx, a.FirstAttempt, in).Get(ctx, &first)
	done := 0
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Type() == delivery.ErrTypeSecret:
		d.Status, d.Error = StatusFailed, appErr.Message()
		return
	case err != nil:
		// The local attempt broke down (worker trouble, not an HTTP
		// outcome): it may or may not have reached the receiver.
		done = 1
		d.Attempts = append(d.Attempts, delivery.Attempt{Number: 1, StartedAt: workflow.Now(ctx).UTC(), Class: delivery.ClassNetwork, Error: "attempt interrupted: " + err.Error()})
	case first.Limited:
		logger.Info("workspace at its delivery limit; waiting for a slot", "workspace", ev.Workspace, "delivery_id", d.DeliveryID)
	default:
		done = 1
		d.Attempts = append(d.Attempts, *first.Attempt)
		if first.Attempt.Succeeded() {
			d.Status = StatusDelivered
			return
		}
		if !first.Attempt.Retryable() {
			d.Status, d.Error = StatusFailed, first.Attempt.Summary()
			return
		}
	}

	if done > 0 {
		if err := workflow.Sleep(ctx, delivery.Schedule[done-1]); err != nil {
			d.Status, d.Error = StatusFailed, fmt.Sprintf("retry wait: %v", err)
			return
		}
	}
	var busySince time.Time
	for busy := 0; ; busy++ {
		in.PriorAttempts = d.Attempts
		activityID := DeliverActivityID(t.ID)
		if busy > 0 {
			activityID += fmt.Sprintf("/busy-%d", busy)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          activityID,
			StartToCloseTimeout: activityTimeout,
			RetryPolicy:         RetryPolicy(len(d.Attempts)),
		})
		var out activities.DeliverResult
		err = workflow.ExecuteActivity(actx, a.DeliverWebhook, in).Get(ctx, &out)
		if err == nil {
			d.Attempts = out.Attempts
			d.Status = StatusDelivered
			return
		}
		d.Status, d.Error = StatusFailed, err.Error()
		if errors.As(err, &appErr) && appErr.HasDetails() {
			var log []delivery.Attempt
			if derr := appErr.Details(&log); derr == nil && len(log) >= len(d.Attempts) {
				d.Attempts = log
				if n := len(log); n > 0 {
					d.Error = log[n-1].Summary()
				}
			}
		}
		if !errors.As(err, &appErr) || appErr.Type() != delivery.ErrTypeWorkspaceBusy || len(d.Attempts) >= delivery.MaxAttempts {
			return
		}
		now := workflow.Now(ctx)
		if busySince.IsZero() {
			busySince = now
		}
		if now.Sub(busySince) >= maxBusyWait {
			d.Error = fmt.Sprintf("workspace %s stayed at its delivery limit (or the limiter was unreachable) for %s; %d attempts were made", ev.Workspace, maxBusyWait, len(d.Attempts))
			return
		}
		// The workspace stayed at its limit: no attempt was spent. Wait
		// (1 to 2 s, spread per delivery) and queue up again.
		d.Status, d.Error = StatusPending, ""
		if err := workflow.Sleep(ctx, busyBackoff(d.DeliveryID, busy)); err != nil {
			d.Status, d.Error = StatusFailed, fmt.Sprintf("wait for a slot: %v", err)
			return
		}
	}
}

// maxBusyWait bounds how long a delivery keeps going back to wait for a
// slot (a workspace at its limit, or the shared limiter unreachable): it
// then fails visibly rather than growing its history without end.
const maxBusyWait = 2 * time.Hour

// busyBackoff is the timer before round n+1 of waiting for a slot: 1 s
// doubling to 30 s, with a deterministic spread of up to a second so that
// a backlog does not come back all at once.
func busyBackoff(deliveryID string, n int) time.Duration {
	d := time.Second << min(n, 5)
	d = min(d, 30*time.Second)
	return d + time.Duration(fnv32(deliveryID, n)%1000)*time.Millisecond
}

// fnv32 is a deterministic spread for retry jitter.
func fnv32(s string, n int) uint32 {
	h := uint32(2166136261)
	for _, c := range []byte(fmt.Sprintf("%s/%d", s, n)) {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
