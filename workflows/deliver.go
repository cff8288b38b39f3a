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

// deliver runs one delivery to its outcome, updating d as it goes. w is
// where a delivery carried over from the previous run stands (nil for a
// new delivery). It returns a non-nil Wait when the delivery parked for
// continue-as-new instead of starting another round of waiting for a slot.
func deliver(ctx workflow.Context, rs *runState, ev event.Event, t destination, d *DeliveryResult, w *Wait) *Wait {
	in := deliverInput(ev, t, d)
	if w != nil {
		in.WaitingSince = w.Queued
		return waitAndSend(ctx, rs, in, d, *w)
	}
	// The delivery's place in its workspace's queue for a slot: when it
	// first asked for one. The oldest waiting delivery of the deployment
	// gets the next free slot.
	in.WaitingSince = workflow.Now(ctx)
	logger := workflow.GetLogger(ctx)
	if t.Refused != "" {
		d.Status, d.Error = StatusFailed, t.Refused
		return nil
	}
	if t.Disabled {
		// No command: histories recorded before disabled webhooks existed
		// never reach this.
		d.Status, d.Error = StatusSkipped, "not sent: the webhook was disabled because its endpoint kept failing; re-enable it, then recover"
		return nil
	}
	if err := (endpoint.Target{ID: t.ID, URL: t.URL, Secret: t.Secret, Fields: t.Fields}).ValidateRecorded(); err != nil {
		d.Status, d.Error = StatusFailed, err.Error()
		return nil
	}
	body, err := payload.Build(ev, t.Fields)
	if err != nil {
		d.Status, d.Error = StatusFailed, fmt.Sprintf("build payload: %v", err)
		return nil
	}
	// Only the local activity gets the body inline: its input is not
	// recorded in history.
	first := in
	first.Body = body

	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: delivery.AttemptTimeout + 5*time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var fr activities.FirstResult
	rs.countLocalActivity()
	err = workflow.ExecuteLocalActivity(lctx, a.FirstAttempt, first).Get(ctx, &fr)
	done := 0
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Type() == delivery.ErrTypeSecret:
		d.Status, d.Error = StatusFailed, appErr.Message()
		return nil
	case err != nil:
		// The local attempt broke down (worker trouble, not an HTTP
		// outcome): it may or may not have reached the receiver.
		done = 1
		d.Attempts = append(d.Attempts, delivery.Attempt{Number: 1, StartedAt: workflow.Now(ctx).UTC(), Class: delivery.ClassNetwork, Error: "attempt interrupted: " + err.Error()})
	case fr.Limited:
		logger.Info("workspace at its delivery limit; waiting for a slot", "workspace", ev.Workspace, "delivery_id", d.DeliveryID)
	default:
		done = 1
		d.Attempts = append(d.Attempts, *fr.Attempt)
		if fr.Attempt.Succeeded() {
			d.Status = StatusDelivered
			return nil
		}
		if !fr.Attempt.Retryable() {
			d.Status, d.Error = StatusFailed, fr.Attempt.Summary()
			return nil
		}
	}

	if done > 0 {
		rs.countTimer()
		if err := workflow.Sleep(ctx, delivery.Schedule[done-1]); err != nil {
			d.Status, d.Error = StatusFailed, fmt.Sprintf("retry wait: %v", err)
			return nil
		}
	}
	return send(ctx, rs, in, d, 0, time.Time{})
}

// deliverInput is the DeliverWebhook input of a delivery, without the body.
func deliverInput(ev event.Event, t destination, d *DeliveryResult) activities.DeliverInput {
	return activities.DeliverInput{
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
	}
}

// waitAndSend resumes a delivery that the previous run parked: it waits
// the backoff that run did not wait, then queues the delivery again.
func waitAndSend(ctx workflow.Context, rs *runState, in activities.DeliverInput, d *DeliveryResult, w Wait) *Wait {
	rs.countTimer()
	pause := busyBackoff(d.DeliveryID, w.NextRound-1)
	if w.Held {
		pause = placeRetry(d.DeliveryID, w.NextRound-1)
	}
	if err := workflow.Sleep(ctx, pause); err != nil {
		d.Status, d.Error = StatusFailed, fmt.Sprintf("wait for a slot: %v", err)
		return nil
	}
	return send(ctx, rs, in, d, w.NextRound, w.Since)
}

// send hands the delivery to DeliverWebhook, whose retry policy makes the
// remaining attempts, starting with round round of waiting for a slot
// (busySince: when the waiting began; zero if it has not). While the
// workspace has no free slot (or the body could not be fetched), no attempt
// is spent: the delivery waits on a timer and queues again, for at most
// maxBusyWait in all. Between rounds it parks (returns its Wait) when the
// run must continue as new.
func send(ctx workflow.Context, rs *runState, in activities.DeliverInput, d *DeliveryResult, round int, busySince time.Time) *Wait {
	// Version 1 (isolation): DeliverWebhook carries the workspace's
	// fairness key (inherited from the workflow when its starter set one;
	// explicit here for starts by other SDKs) and WaitingSince.
	// Version 2 (kept places): a round that runs out among the oldest
	// waiters keeps the delivery's place in the queue until it comes back,
	// after placeRetry. One change ID for both: each GetVersion records a
	// marker and a search attribute upsert.
	var priority temporal.Priority
	v := workflow.GetVersion(ctx, versionFairnessFIFO, workflow.DefaultVersion, 2)
	if v >= 1 {
		priority = temporal.Priority{FairnessKey: FairnessKey(in.Workspace)}
	} else {
		in.WaitingSince = time.Time{}
	}
	if v >= 2 && !in.WaitingSince.IsZero() {
		in.HoldPlace = placeRetryMax + placeMargin
	}
	for ; ; round++ {
		in.PriorAttempts = d.Attempts
		activityID := DeliverActivityID(in.WebhookID)
		if round > 0 {
			activityID += fmt.Sprintf("/busy-%d", round)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          activityID,
			StartToCloseTimeout: activityTimeout,
			RetryPolicy:         RetryPolicy(len(d.Attempts)),
			Priority:            priority,
		})
		rs.countActivity(in)
		var out activities.DeliverResult
		err := workflow.ExecuteActivity(actx, a.DeliverWebhook, in).Get(ctx, &out)
		if err == nil {
			d.Attempts = out.Attempts
			d.Status, d.Error = StatusDelivered, ""
			return nil
		}
		d.Status, d.Error = StatusFailed, err.Error()
		keepFailureLog(err, d)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !delivery.NotAttempted(appErr.Type()) || len(d.Attempts) >= delivery.MaxAttempts {
			return nil
		}
		if appErr.HasDetails() {
			rs.countFailureLog(d.Attempts)
		}
		now := workflow.Now(ctx)
		if busySince.IsZero() {
			busySince = now
		}
		if now.Sub(busySince) >= maxBusyWait {
			d.Error = fmt.Sprintf("workspace %s stayed at its delivery limit (or the limiter was unreachable) for %s; %d attempts were made", in.Workspace, maxBusyWait, len(d.Attempts))
			return nil
		}
		// The workspace stayed at its limit: no attempt was spent. Wait
		// (1 to 2 s, spread per delivery) and queue up again, unless this
		// run's history is full: then park, and the next run waits.
		d.Status, d.Error = StatusPending, ""
		held := in.HoldPlace > 0 && placeKept(appErr)
		if rs.mustPark(ctx) {
			return &Wait{Since: busySince, NextRound: round + 1, Queued: in.WaitingSince, Held: held}
		}
		pause := busyBackoff(d.DeliveryID, round)
		if held {
			pause = placeRetry(d.DeliveryID, round)
		}
		rs.countTimer()
		if err := workflow.Sleep(ctx, pause); err != nil {
			d.Status, d.Error = StatusFailed, fmt.Sprintf("wait for a slot: %v", err)
			return nil
		}
	}
}

// keepFailureLog takes the attempt log out of a DeliverWebhook failure: an
// application error's details, or, when the activity timed out (a worker
// that hung or died mid-attempt), its last heartbeat details. The log
// replaces d.Attempts when it knows at least as many attempts. When the
// activity timed out, the attempts that left no record are added as
// interrupted, so the numbers stay contiguous up to delivery.MaxAttempts.
func keepFailureLog(err error, d *DeliveryResult) {
	var log []delivery.Attempt
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr):
		if !appErr.HasDetails() || appErr.Details(&log) != nil {
			return
		}
	case errors.As(err, &timeoutErr):
		if timeoutErr.HasLastHeartbeatDetails() {
			if derr := timeoutErr.LastHeartbeatDetails(&log); derr != nil {
				log = nil
			}
		}
		if len(log) < len(d.Attempts) {
			log = append([]delivery.Attempt(nil), d.Attempts...)
		}
		// A timeout is retried and DeliverWebhook has no schedule-to-close
		// timeout, so a timeout that reaches the workflow means its
		// retries ran out: every attempt up to MaxAttempts was started.
		for n := len(log) + 1; n <= delivery.MaxAttempts; n++ {
			log = append(log, delivery.Attempt{
				Number: n,
				Class:  delivery.ClassTimeout,
				Error:  fmt.Sprintf("attempt interrupted: the activity timed out (%s) before it recorded an outcome; the request may or may not have been sent", timeoutErr.TimeoutType()),
			})
		}
	default:
		return
	}
	if len(log) < len(d.Attempts) {
		return
	}
	d.Attempts = log
	if n := len(log); n > 0 {
		d.Error = log[n-1].Summary()
	}
}

// placeKept reads the second detail of an ErrTypeWorkspaceBusy failure:
// whether the limiter keeps the delivery's place until it comes back.
func placeKept(appErr *temporal.ApplicationError) bool {
	if appErr.Type() != delivery.ErrTypeWorkspaceBusy || !appErr.HasDetails() {
		return false
	}
	var log []delivery.Attempt
	var kept bool
	if appErr.Details(&log, &kept) != nil {
		return false
	}
	return kept
}

// versionFairnessFIFO is the workflow.GetVersion change ID of kept places
// (version 2: DeliverInput.HoldPlace and the short timer after a round that
// kept one) and, version 1, of the
// fairness key and WaitingSince on DeliverWebhook.
const versionFairnessFIFO = "deliver-fairness-fifo"

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

// placeRetry is the timer after a round that ran out among the oldest
// waiters of its workspace: the limiter keeps its place (and a slot freed
// meanwhile waits for it), so it comes back soon, whatever the round: 1 s
// and a deterministic spread of up to placeRetryMax - 1 s.
func placeRetry(deliveryID string, n int) time.Duration {
	return time.Second + time.Duration(fnv32(deliveryID, n)%250)*time.Millisecond
}

// placeRetryMax bounds placeRetry.
const placeRetryMax = time.Second + 250*time.Millisecond

// placeMargin is how long a kept place outlasts the workflow's timer: the
// workflow task and the activity's dispatch that bring the delivery back
// (seconds on a loaded server). A delivery back later re-enters the queue
// at the same place (its WaitingSince); younger deliveries may take the
// slots freed in between.
const placeMargin = 5 * time.Second

// fnv32 is a deterministic spread for retry jitter.
func fnv32(s string, n int) uint32 {
	h := uint32(2166136261)
	for _, c := range []byte(fmt.Sprintf("%s/%d", s, n)) {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
