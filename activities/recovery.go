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
	// started in [since, until] whose delivery to it failed, oldest first,
	// at most max (truncated says there were more).
	FailedDeliveries(ctx context.Context, ws, webhookID string, since, until time.Time, max int) (ids []string, truncated bool, err error)
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

// ListFailedInput names the deliveries a recovery sends again.
type ListFailedInput struct {
	Workspace string    `json:"workspace"`
	WebhookID string    `json:"webhook_id"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Max       int       `json:"max"`
}

// ListFailedResult lists them, oldest first.
type ListFailedResult struct {
	DeliveryIDs []string `json:"delivery_ids"`
	Truncated   bool     `json:"truncated,omitempty"`
}

// ListFailedDeliveries lists a webhook's failed deliveries for a recovery.
func (a *Recovery) ListFailedDeliveries(ctx context.Context, in ListFailedInput) (ListFailedResult, error) {
	if a.Recoverer == nil {
		return ListFailedResult{}, fmt.Errorf("this worker has no recoverer configured")
	}
	ids, truncated, err := a.Recoverer.FailedDeliveries(ctx, in.Workspace, in.WebhookID, in.Since, in.Until, in.Max)
	if err != nil {
		return ListFailedResult{}, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ListFailedResult{DeliveryIDs: ids, Truncated: truncated}, nil
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
