// Package workflows orchestrates deliveries on Temporal. EventWorkflow is
// the durable life of one CRM event: one delivery per target, each with its
// attempts and outcome.
package workflows

import (
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
	// QueryRecord returns the event's record (RecordRef): what the log
	// titles each of its deliveries with, a skipped one (no body) too.
	QueryRecord = "record"
	// workflowIDPrefix + workspace + ":" + event ID is the workflow ID.
	// Before workflow IDs were scoped by workspace they were
	// "webhook-event-<event id>": the ':' after "webhook-event" keeps the
	// two forms disjoint (an old ID always has '-' there), whatever ':'
	// old event IDs held.
	workflowIDPrefix = "webhook-event:"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
	// StatusSkipped: not attempted, the webhook being disabled.
	StatusSkipped = "skipped"
)

// DeliverActivityID names the DeliverWebhook activity of one webhook, so
// its pending attempts can be matched to the delivery.
func DeliverActivityID(webhookID string) string { return "deliver/" + webhookID }

// EventResult is the outcome of every delivery of an event; the status
// query returns it while deliveries are still under way.
type EventResult struct {
	EventID    string           `json:"event_id"`
	Deliveries []DeliveryResult `json:"deliveries"`
	// NoMatch is true when the workflow routed the event itself (it was
	// started without targets) and no active webhook of the workspace
	// matched it: nothing was sent. SearchStatus then reads StatusNoMatch.
	NoMatch bool `json:"no_match,omitempty"`
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
		return EventResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidEvent, nil)
	}
	if in.Event.ID == "" {
		return EventResult{}, temporal.NewNonRetryableApplicationError("event id is required", ErrTypeInvalidEvent, nil)
	}
	if err := checkSize(ctx, in); err != nil {
		return EventResult{}, err
	}
	// A query handler adds no command: histories replay as they were.
	if err := workflow.SetQueryHandler(ctx, QueryRecord, func() (RecordRef, error) { return recordRef(in.Event), nil }); err != nil {
		return EventResult{}, fmt.Errorf("set query handler: %w", err)
	}
	// An event started with only the event (a raw client following the
	// polyglot contract) is routed here, against the registry as it
	// stands now; the routed targets are then the input's, carried over
	// continue-as-new like the publisher's.
	routedHere := false
	if needsRouting(in) {
		if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (EventResult, error) {
			return EventResult{EventID: in.Event.ID, Deliveries: []DeliveryResult{}}, nil
		}); err != nil {
			return EventResult{}, fmt.Errorf("set query handler: %w", err)
		}
		routed, ok, err := route(ctx, in)
		if err != nil {
			return EventResult{}, err
		}
		if ok {
			routedHere, in.Routed = true, routed
			if len(routed) > 0 {
				// The execution log and the Web UI find the event while
				// its deliveries run, as they find a publisher's.
				if err := workflow.UpsertTypedSearchAttributes(ctx, searchUpdates(in, StatusPending)...); err != nil {
					workflow.GetLogger(ctx).Warn("record the routed webhooks in search attributes", "error", err)
				}
			} else {
				workflow.GetLogger(ctx).Info("no webhook matches the event", "workspace", in.Event.Workspace, "event_id", in.Event.ID)
			}
		}
	}
	if err := workflow.SetQueryHandler(ctx, QueryRouted, func() ([]endpoint.Routed, error) { return in.Routed, nil }); err != nil {
		return EventResult{}, fmt.Errorf("set query handler: %w", err)
	}
	dests := destinations(ctx, in)
	seen := map[string]bool{}
	for _, t := range dests {
		if seen[t.ID] {
			return EventResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("target id %q appears twice", t.ID), ErrTypeInvalidEvent, nil)
		}
		seen[t.ID] = true
	}
	res := EventResult{EventID: in.Event.ID, Deliveries: make([]DeliveryResult, len(dests)), NoMatch: routedHere && len(dests) == 0}
	waits := make([]*Wait, len(dests))
	run := 1
	if c := in.Continued; c != nil {
		if err := c.validate(dests); err != nil {
			return EventResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidEvent, nil)
		}
		run = c.Run + 1
		for i, cd := range c.Deliveries {
			res.Deliveries[i], waits[i] = cd.DeliveryResult, cd.Wait
			res.Deliveries[i].URL = dests[i].URL // not carried
			if res.Deliveries[i].Attempts == nil {
				res.Deliveries[i].Attempts = []delivery.Attempt{}
			}
		}
	} else {
		for i, t := range dests {
			res.Deliveries[i] = DeliveryResult{WebhookID: t.ID, DeliveryID: DeliveryID(in.Event.ID, t.ID), URL: t.URL, Status: StatusPending, Attempts: []delivery.Attempt{}}
		}
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (EventResult, error) { return res, nil }); err != nil {
		return EventResult{}, fmt.Errorf("set query handler: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, activities.QueryDeliveryBody, func(deliveryID string) ([]byte, error) {
		return deliveryBody(in.Event, dests, deliveryID)
	}); err != nil {
		return EventResult{}, fmt.Errorf("set query handler: %w", err)
	}

	rs := newRunState(in)
	parked := make([]*Wait, len(dests))
	wg := workflow.NewWaitGroup(ctx)
	for i := range dests {
		if in.Continued != nil && waits[i] == nil {
			continue // finished in an earlier run
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			parked[i] = deliver(ctx, rs, in.Event, dests[i], &res.Deliveries[i], waits[i])
		})
	}
	wg.Wait(ctx)
	if next, ok := continuation(ctx, in, run, res.Deliveries, parked); ok {
		return EventResult{}, workflow.NewContinueAsNewError(ctx, EventWorkflowName, EventInput{Event: in.Event, Targets: in.Targets, Routed: in.Routed, Continued: next})
	}
	for _, d := range res.Deliveries {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": d.Status}).Counter("hari_webhook_deliveries_total").Inc(1)
	}
	// One upsert, in the final workflow task, records the outcome for the
	// execution log (and sets the other attributes when the starter did not).
	updates := searchUpdates(in, "") // the status is set below, once its version is known
	if _, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(SearchWorkspace); ok {
		updates = updates[:1] // the starter set the rest
	} else if workflow.GetVersion(ctx, versionWebhookKeys, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		updates = updates[:4] // recorded before HariWebhookKeys existed
	}
	// Which webhooks' deliveries were skipped, so that a disabled
	// webhook's skipped events are found (counted, recovered) also when
	// the event went to other webhooks too. Asked only when one was (an
	// event without a skip records no version marker), and after
	// search-webhook-keys, as recorded histories have them. Version 2
	// leaves the skips out of the status (see eventStatus).
	skipped := skippedKeys(res.Deliveries)
	skipVersion := workflow.DefaultVersion
	if len(skipped) > 0 {
		skipVersion = workflow.GetVersion(ctx, versionSkippedKeys, workflow.DefaultVersion, 2)
	}
	if skipVersion >= 1 {
		updates = append(updates, SearchSkippedKeys.ValueSet(skipped))
	}
	status := eventStatus(res.Deliveries, skipVersion >= 2)
	if res.NoMatch {
		status = StatusNoMatch
	}
	updates[0] = SearchStatus.ValueSet(status) // searchUpdates puts the status first
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("record the outcome in search attributes", "error", err)
	}
	return res, nil
}

// continuation is the input of the next run when some deliveries parked.
// If it cannot be built, the parked deliveries fail with the reason
// rather than being lost with a refused continue-as-new.
func continuation(ctx workflow.Context, in EventInput, run int, res []DeliveryResult, parked []*Wait) (*Continuation, bool) {
	n := 0
	for _, w := range parked {
		if w != nil {
			n++
		}
	}
	if n == 0 {
		return nil, false
	}
	var next *Continuation
	budget, err := carryBudget(in)
	if err == nil {
		next, err = carry(run, res, parked, budget)
	}
	if err != nil {
		for i, w := range parked {
			if w != nil {
				res[i].Status, res[i].Error = StatusFailed, fmt.Sprintf("cannot continue waiting for a slot: %v", err)
			}
		}
		return nil, false
	}
	workflow.GetLogger(ctx).Info("continuing as new", "run", run, "waiting_deliveries", n)
	return next, true
}

// RecordRef names an event's record: its ID and its name, when the record
// has a name.
type RecordRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func recordRef(ev event.Event) RecordRef {
	name, _ := ev.Record.String("name")
	return RecordRef{ID: ev.RecordID(), Name: name}
}

// deliveryBody answers QueryDeliveryBody: the body of one delivery, built
// again from the event and the target's field selection (payload.Build is
// deterministic, so it is the body of every attempt).
func deliveryBody(ev event.Event, dests []destination, deliveryID string) ([]byte, error) {
	for _, t := range dests {
		if DeliveryID(ev.ID, t.ID) == deliveryID {
			return payload.Build(ev, t.Fields)
		}
	}
	return nil, fmt.Errorf("no delivery %q in event %s", deliveryID, ev.ID)
}

// versionWebhookKeys guards the HariWebhookKeys upsert of events started
// without search attributes (by other SDKs): histories recorded before it
// replay without it.
const versionWebhookKeys = "search-webhook-keys"

// versionSkippedKeys guards the HariSkippedKeys upsert: histories of
// events with a skipped delivery recorded before it replay without it.
// Version 2: an event with skips, none failed, is delivered, not partial.
const versionSkippedKeys = "search-skipped-keys"
