package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
)

// Recoverer finds a webhook's failed deliveries and sends them again
// (publisher.Publisher): the client side of a recovery, injected so that
// this package stays below the publisher.
type Recoverer interface {
	// FailedDeliveries lists the delivery IDs of the webhook's events
	// started in [q.Since, q.Until] (and after q.After) whose delivery to
	// it failed, oldest first, covering at most q.Max events; Next is set
	// when more remain, to list them with After.
	FailedDeliveries(ctx context.Context, q FailedQuery) (FailedPage, error)
	// RecoverDelivery starts the delivery's recovery redelivery (one per
	// delivery, ever), or finds it started, and returns its ID.
	RecoverDelivery(ctx context.Context, ws, webhookID, deliveryID string) (redeliveryID string, err error)
	// RedeliveryStatus waits for a redelivery's outcome: its delivery's
	// status and error.
	RedeliveryStatus(ctx context.Context, ws, redeliveryID string) (status, errMsg string, err error)
}

// Recovery holds the recovery activities: registered next to the
// delivery activities, with the Recoverer injected.
type Recovery struct {
	// Recoverer finds and redelivers a webhook's failed deliveries; nil
	// fails recoveries with the reason.
	Recoverer Recoverer
}

// Cursor is where a listing of failed deliveries stopped: the start time
// and workflow ID of the last event it covered (events are ordered by
// both).
type Cursor struct {
	StartTime  time.Time `json:"start_time"`
	WorkflowID string    `json:"workflow_id"`
}

// Before reports whether the event (at, id) is at or before c.
func (c *Cursor) Before(at time.Time, id string) bool {
	if c == nil {
		return false
	}
	return at.Before(c.StartTime) || at.Equal(c.StartTime) && id <= c.WorkflowID
}

// FailedQuery asks for one batch of a webhook's failed deliveries.
type FailedQuery struct {
	Workspace string
	WebhookID string
	Since     time.Time
	Until     time.Time
	// After skips the events up to it (a previous batch); nil for none.
	After *Cursor
	Max   int
	// Progress, when set, is called after each page read and each event
	// result read (the activity heartbeats with it).
	Progress func(pages, results int)
}

// FailedPage is one batch: its delivery IDs oldest first, and Next, set
// when more events remain after it.
type FailedPage struct {
	DeliveryIDs []string
	Next        *Cursor
}

// ListFailedInput names the deliveries a recovery sends again.
type ListFailedInput struct {
	Workspace string    `json:"workspace"`
	WebhookID string    `json:"webhook_id"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Max       int       `json:"max"`
	// After continues a truncated listing (the previous Next).
	After *Cursor `json:"after,omitempty"`
}

// ListFailedResult lists them, oldest first.
type ListFailedResult struct {
	DeliveryIDs []string `json:"delivery_ids"`
	Truncated   bool     `json:"truncated,omitempty"`
	// Next is where the next batch starts when Truncated.
	Next *Cursor `json:"next,omitempty"`
}

// ListFailedDeliveries lists a webhook's failed deliveries for a recovery,
// heartbeating per page and per event read (pages and results so far).
func (a *Recovery) ListFailedDeliveries(ctx context.Context, in ListFailedInput) (ListFailedResult, error) {
	if a.Recoverer == nil {
		return ListFailedResult{}, fmt.Errorf("this worker has no recoverer configured")
	}
	page, err := a.Recoverer.FailedDeliveries(ctx, FailedQuery{
		Workspace: in.Workspace, WebhookID: in.WebhookID, Since: in.Since, Until: in.Until, After: in.After, Max: in.Max,
		Progress: func(pages, results int) { activity.RecordHeartbeat(ctx, pages, results) },
	})
	if err != nil {
		return ListFailedResult{}, err
	}
	ids := page.DeliveryIDs
	if ids == nil {
		ids = []string{}
	}
	return ListFailedResult{DeliveryIDs: ids, Truncated: page.Next != nil, Next: page.Next}, nil
}

// RecoverDeliveryInput is one delivery of a recovery.
type RecoverDeliveryInput struct {
	Workspace  string `json:"workspace"`
	WebhookID  string `json:"webhook_id"`
	DeliveryID string `json:"delivery_id"`
}

// RecoverDeliveryResult is its redelivery's outcome.
type RecoverDeliveryResult struct {
	RedeliveryID string `json:"redelivery_id"`
	Status       string `json:"status"`
	Error        string `json:"error,omitempty"`
}

// recoverHeartbeat is how often RecoverDelivery heartbeats while it waits.
const recoverHeartbeat = 5 * time.Second

// RecoverDelivery starts one delivery's recovery redelivery (or finds it
// started: the ID is derived from the delivery, so a retried activity or a
// second recovery sends nothing more) and waits for its outcome,
// heartbeating, so that a recovery runs only so many at once.
func (a *Recovery) RecoverDelivery(ctx context.Context, in RecoverDeliveryInput) (RecoverDeliveryResult, error) {
	if a.Recoverer == nil {
		return RecoverDeliveryResult{}, fmt.Errorf("this worker has no recoverer configured")
	}
	id, err := a.Recoverer.RecoverDelivery(ctx, in.Workspace, in.WebhookID, in.DeliveryID)
	if err != nil {
		return RecoverDeliveryResult{}, err
	}
	activity.RecordHeartbeat(ctx, id)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(recoverHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, id)
			}
		}
	}()
	status, msg, err := a.Recoverer.RedeliveryStatus(ctx, in.Workspace, id)
	if err != nil {
		return RecoverDeliveryResult{}, err
	}
	return RecoverDeliveryResult{RedeliveryID: id, Status: status, Error: msg}, nil
}
