package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
)

// A recovery sends every failed delivery of one webhook since a time
// again, a few at a time, so that live deliveries of the workspace keep
// their slots. Each delivery gets its recovery redelivery
// (RedeliveryKeyRecovery): a delivery is recovered at most once, however
// many recoveries cover it or however often one is started.
const (
	RecoveryWorkflowName = "WebhookRecovery"
	// QueryRecoveryProgress answers the RecoveryProgress so far.
	QueryRecoveryProgress = "progress"
	recoveryIDPrefix      = "webhook-recovery:"
)

// Recovery defaults and bounds.
const (
	// DefaultRecoveryConcurrency is how many redeliveries a recovery runs
	// at once: a fifth of the default workspace limit of 50, so live
	// deliveries keep the rest.
	DefaultRecoveryConcurrency = 10
	// MaxRecoveryConcurrency bounds it (the workspace limit).
	MaxRecoveryConcurrency = 50
	// MaxRecoveryDeliveries bounds the events of one batch of a recovery
	// (its history: about 6 events each); a larger backlog is recovered
	// oldest first in further batches, each a continue-as-new of the same
	// job.
	MaxRecoveryDeliveries = 2000
	// maxListAttempts bounds the attempts of one batch's listing: then the
	// job ends failed, saying why.
	maxListAttempts = 5
)

// Recovery states.
const (
	RecoveryListing  = "listing"
	RecoveryRunning  = "running"
	RecoveryDone     = "done"
	RecoveryCanceled = "canceled"
	// RecoveryFailed: the failed deliveries could not be listed
	// (LastError says why).
	RecoveryFailed = "failed"
	// RecoveryStopped: the webhook was deactivated or disabled during the
	// recovery, which started no more redeliveries (LastError says why).
	RecoveryStopped = "stopped"
)

// RecoveryInput starts a recovery: the webhook's failed deliveries of
// events started from Since to Until (the request's time).
type RecoveryInput struct {
	Workspace   string    `json:"workspace"`
	WebhookID   string    `json:"webhook_id"`
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	Concurrency int       `json:"concurrency,omitempty"`
	// After and Carried continue a truncated recovery (continue-as-new):
	// the next batch starts after After, the progress so far is Carried.
	After   *activities.Cursor `json:"after,omitempty"`
	Carried *RecoveryProgress  `json:"carried,omitempty"`
}

// RecoveryProgress is how far a recovery is: Sent of Total delivered.
type RecoveryProgress struct {
	Workspace string    `json:"workspace"`
	WebhookID string    `json:"webhook_id"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	State     string    `json:"state"`
	// Total is the number of failed deliveries found so far; Truncated
	// says more events remain after the current batch (listed next).
	Total     int  `json:"total"`
	Truncated bool `json:"truncated,omitempty"`
	// Sent were delivered by their redelivery, Failed were not (LastError
	// says why, for the last one), Running are under way.
	Sent      int    `json:"sent"`
	Failed    int    `json:"failed"`
	Running   int    `json:"running"`
	LastError string `json:"last_error,omitempty"`
}

var ra *activities.Recovery

// RecoveryJobID is the job ID of the recoveries of webhookID: one
// workflow ID per webhook, so that at most one recovery of a webhook runs
// at a time; each request after the previous one ended is a new run of it.
func RecoveryJobID(webhookID string) string {
	sum := sha256.Sum256([]byte(webhookID))
	return hex.EncodeToString(sum[:8])
}

// RecoveryWorkflowID is a recovery job's workflow ID.
func RecoveryWorkflowID(workspace, jobID string) string {
	return recoveryIDPrefix + workspace + ":" + jobID
}

// ValidRecoveryJobID reports whether job has the form RecoveryJobID gives.
func ValidRecoveryJobID(job string) bool {
	if len(job) != 16 {
		return false
	}
	_, err := hex.DecodeString(job)
	return err == nil && strings.ToLower(job) == job
}

func (in RecoveryInput) validate() error {
	switch {
	case in.Workspace == "" || in.WebhookID == "":
		return errors.New("workspace and webhook_id are required")
	case in.Since.IsZero() || in.Until.Before(in.Since):
		return fmt.Errorf("since (%s) must be set and not after until (%s)", in.Since, in.Until)
	case in.Concurrency < 0 || in.Concurrency > MaxRecoveryConcurrency:
		return fmt.Errorf("concurrency must be from 1 to %d, got %d", MaxRecoveryConcurrency, in.Concurrency)
	}
	return nil
}

// RecoveryWorkflow lists the webhook's failed deliveries and redelivers
// each, at most in.Concurrency at once, each exactly once. Canceling it
// starts no more redeliveries; those under way finish.
func RecoveryWorkflow(ctx workflow.Context, in RecoveryInput) (RecoveryProgress, error) {
	if err := in.validate(); err != nil {
		return RecoveryProgress{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidRecovery", nil)
	}
	conc := in.Concurrency
	if conc == 0 {
		conc = DefaultRecoveryConcurrency
	}
	prog := RecoveryProgress{Workspace: in.Workspace, WebhookID: in.WebhookID, Since: in.Since, Until: in.Until}
	if in.Carried != nil {
		prog = *in.Carried
	}
	prog.State = RecoveryListing
	if err := workflow.SetQueryHandler(ctx, QueryRecoveryProgress, func() (RecoveryProgress, error) { return prog, nil }); err != nil {
		return prog, fmt.Errorf("set query handler: %w", err)
	}
	// The listing heartbeats per page and per event read; it is tried a
	// few times, then the job ends failed, visibly.
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: maxListAttempts},
	})
	var list activities.ListFailedResult
	err := workflow.ExecuteActivity(lctx, ra.ListFailedDeliveries, activities.ListFailedInput{
		Workspace: in.Workspace, WebhookID: in.WebhookID, Since: in.Since, Until: in.Until, Max: MaxRecoveryDeliveries, After: in.After,
	}).Get(ctx, &list)
	if err != nil {
		if ctx.Err() != nil {
			prog.State = RecoveryCanceled
			return prog, ctx.Err()
		}
		prog.State, prog.LastError = RecoveryFailed, "listing the failed deliveries: "+rootMessage(err)
		return prog, err
	}
	prog.Total += len(list.DeliveryIDs)
	prog.Truncated, prog.State = list.Truncated, RecoveryRunning

	// A redelivery waits for a workspace slot like any delivery; with
	// its retries, a few hours at most (maxBusyWait).
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: maxBusyWait + time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{ErrTypeRecoveryRefused, ErrTypeRecoveryStopped}},
	})
	sel := workflow.NewSelector(ctx)
	next := 0
	stopped := false
	startMore := func() {
		for ctx.Err() == nil && !stopped && next < len(list.DeliveryIDs) && prog.Running < conc {
			id := list.DeliveryIDs[next]
			next++
			prog.Running++
			f := workflow.ExecuteActivity(rctx, ra.RecoverDelivery, activities.RecoverDeliveryInput{Workspace: in.Workspace, WebhookID: in.WebhookID, DeliveryID: id})
			sel.AddFuture(f, func(f workflow.Future) {
				prog.Running--
				var r activities.RecoverDeliveryResult
				err := f.Get(ctx, &r)
				switch {
				case err == nil && r.Status == StatusDelivered:
					prog.Sent++
				case err == nil:
					prog.Failed++
					prog.LastError = fmt.Sprintf("%s: %s", id, r.Error)
				case ctx.Err() != nil:
					// canceled: not counted either way
				case isStopped(err):
					// the webhook is no longer sendable: not sent, and no
					// more are started
					stopped = true
					prog.LastError = rootMessage(err)
				default:
					prog.Failed++
					prog.LastError = fmt.Sprintf("%s: %s", id, rootMessage(err))
				}
			})
		}
	}
	startMore()
	for prog.Running > 0 {
		sel.Select(ctx)
		startMore()
	}
	if ctx.Err() != nil {
		prog.State = RecoveryCanceled
		return prog, ctx.Err()
	}
	if stopped {
		prog.State = RecoveryStopped
		return prog, nil
	}
	// More remain: the next batch, oldest first, in a new run of the same
	// job (its history stays small), carrying the progress.
	if list.Truncated && list.Next != nil && workflow.GetVersion(ctx, "recovery-next-batch", workflow.DefaultVersion, 1) == 1 {
		next := in
		next.After, next.Carried = list.Next, &prog
		return prog, workflow.NewContinueAsNewError(ctx, RecoveryWorkflowName, next)
	}
	prog.State = RecoveryDone
	return prog, nil
}

// ErrTypeRecoveryStopped stops a recovery: its webhook was deactivated or
// disabled.
const ErrTypeRecoveryStopped = "RecoveryStopped"

func isStopped(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == ErrTypeRecoveryStopped
}

// ErrTypeRecoveryRefused fails one delivery of a recovery without retry
// (the webhook was deleted, the event is gone).
const ErrTypeRecoveryRefused = "RecoveryRefused"
