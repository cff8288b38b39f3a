package publisher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// ErrPending means the delivery has no outcome yet: it is still being
// attempted (or waiting for a slot), so it cannot be sent again.
var ErrPending = errors.New("delivery still pending")

// ErrTooManyRedeliveries means a delivery was redelivered
// MaxRedeliveries times already.
var ErrTooManyRedeliveries = errors.New("too many redeliveries")

// ErrInactive means the webhook was deactivated by hand: nothing is sent
// to it, redeliveries included, until it is activated.
var ErrInactive = errors.New("webhook inactive")

// ErrDisabled means the webhook was disabled because its endpoint kept
// failing: a recovery stops sending to it (Redeliver still sends, so the
// customer can check a fix).
var ErrDisabled = errors.New("webhook disabled")

// webhookStates reads a webhook's state (registry.Client); a Targets that
// does not is not checked.
type webhookStates interface {
	Get(ctx context.Context, ws, id string) (webhook.View, error)
}

// sendable refuses a webhook that is inactive (ErrInactive) or, unless
// disabledOK, disabled (ErrDisabled).
func (p *Publisher) sendable(ctx context.Context, ws, webhookID string, disabledOK bool) error {
	st, ok := p.targets.(webhookStates)
	if !ok {
		return nil
	}
	v, err := st.Get(ctx, ws, webhookID)
	if err != nil {
		return fmt.Errorf("read webhook %s: %w", webhookID, err)
	}
	switch {
	case v.State == webhook.StateInactive:
		return fmt.Errorf("%w: webhook %s is deactivated; activate it to send to it again", ErrInactive, webhookID)
	case v.State == webhook.StateDisabled && !disabledOK:
		return fmt.Errorf("%w: webhook %s was disabled (%s); re-enable it to send to it again", ErrDisabled, webhookID, v.DisabledReason)
	}
	return nil
}

// Targets reads a webhook's current target (registry.Client).
type Targets interface {
	Target(ctx context.Context, ws, id string) (endpoint.Routed, error)
}

// MaxRedeliveries bounds the redeliveries of one delivery without a key.
const MaxRedeliveries = 50

// RedeliverWindow is how long after a redelivery started a request
// without a key gets that same redelivery back instead of a new one (a
// double click, two tabs, a retried request).
const RedeliverWindow = 30 * time.Second

// Redelivery says what a redeliver request started (or found).
type Redelivery struct {
	// RedeliveryID is the redelivery's workflow ID.
	RedeliveryID string `json:"redelivery_id"`
	RunID        string `json:"run_id,omitempty"`
	// DeliveryID is the X-Webhook-Id it sends, the original's.
	DeliveryID string `json:"delivery_id"`
	// RedeliveryOf is the original event workflow's ID.
	RedeliveryOf string `json:"redelivery_of"`
	// Duplicate is true when the redelivery had been started by an
	// earlier request: nothing new was sent.
	Duplicate bool `json:"duplicate"`
}

// RedeliverOptions qualify a redeliver request.
type RedeliverOptions struct {
	// Key makes the request idempotent for good: every request with the
	// same key for the same delivery gets the same redelivery. Without a
	// key, a request within RedeliverWindow of the last redelivery's
	// start (or while it runs) gets that one; later, a new one.
	Key string
}

// Redeliver sends workspace ws's delivery deliveryID (to webhook
// webhookID) again: the same body bytes and X-Webhook-Id as first sent,
// signed with the webhook's current secret and sent to its current URL,
// as a delivery of its own (its own attempts under the 1/2/4 s policy,
// within the workspace's limit), marked in the execution log as a
// redelivery of the original.
func (p *Publisher) Redeliver(ctx context.Context, ws, webhookID, deliveryID string, opts RedeliverOptions) (Redelivery, error) {
	if err := event.ValidateWorkspace(ws); err != nil {
		return Redelivery{}, err
	}
	eventID, ok := workflows.SplitDeliveryID(deliveryID, webhookID)
	if !ok {
		return Redelivery{}, fmt.Errorf("%w: %w", event.ErrInvalid, &event.FieldError{Field: "delivery_id", Message: fmt.Sprintf("%q is not a delivery of webhook %s (a delivery ID is <event id>:<webhook id>)", deliveryID, webhookID)})
	}
	if err := validateRef(ws, eventID); err != nil {
		return Redelivery{}, err
	}
	if p.targets == nil {
		return Redelivery{}, errors.New("redeliver: no webhook registry is configured")
	}
	key := ""
	if opts.Key != "" {
		if len(opts.Key) > 255 {
			return Redelivery{}, fmt.Errorf("%w: %w", event.ErrInvalid, &event.FieldError{Field: "key", Message: "must be at most 255 bytes"})
		}
		key = hashedKey(opts.Key)
	}
	orig := workflows.WorkflowID(ws, eventID)
	in, err := p.originalInput(ctx, ws, eventID, orig)
	if err != nil {
		return Redelivery{}, err
	}
	var routed *endpoint.Routed
	for i := range in.Routed {
		if in.Routed[i].ID == webhookID {
			routed = &in.Routed[i]
		}
	}
	if routed == nil && len(in.Targets) == 0 && len(in.Routed) == 0 {
		// Started with only the event (another SDK): the workflow routed
		// it, and answers its routed targets.
		routed, err = p.routedInWorkflow(ctx, orig, webhookID)
		if err != nil {
			return Redelivery{}, err
		}
	}
	if routed == nil {
		return Redelivery{}, fmt.Errorf("%w: delivery %s: event %s was not routed to webhook %s", ErrNotFound, deliveryID, eventID, webhookID)
	}
	o, err := p.Show(ctx, ws, eventID)
	if err != nil {
		return Redelivery{}, err
	}
	for _, d := range o.Deliveries {
		if d.WebhookID == webhookID && d.Status == workflows.StatusPending {
			return Redelivery{}, fmt.Errorf("%w: delivery %s has no outcome yet; redeliver it once it has one", ErrPending, deliveryID)
		}
	}
	if err := p.sendable(ctx, ws, webhookID, true); err != nil {
		return Redelivery{}, err
	}
	current, err := p.targets.Target(ctx, ws, webhookID)
	if err != nil {
		return Redelivery{}, fmt.Errorf("read webhook %s: %w", webhookID, err)
	}
	// The current URL and secret; the original field selection, so that
	// the body is the same bytes.
	current.Fields = routed.Fields
	rin := workflows.EventInput{Event: in.Event, Routed: []endpoint.Routed{current}}
	if key == "" {
		n, found, err := p.nextRedelivery(ctx, ws, deliveryID)
		if err != nil {
			return Redelivery{}, err
		}
		if found != nil {
			found.RedeliveryOf = orig
			return *found, nil
		}
		key = fmt.Sprintf("r%d", n)
	}
	return p.startRedelivery(ctx, rin, orig, workflows.RedeliveryWorkflowID(ws, key, deliveryID))
}

// hashedKey is the workflow ID part of a redelivery key.
func hashedKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return "k" + hex.EncodeToString(sum[:12])
}

// routedInWorkflow is webhook webhookID's target as the event workflow id
// routed it (workflows.QueryRouted), or nil.
func (p *Publisher) routedInWorkflow(ctx context.Context, id, webhookID string) (*endpoint.Routed, error) {
	val, err := p.c.QueryWorkflow(ctx, id, "", workflows.QueryRouted)
	if err != nil {
		return nil, fmt.Errorf("query the routed targets of %s: %w", id, err)
	}
	var all []endpoint.Routed
	if err := val.Get(&all); err != nil {
		return nil, fmt.Errorf("decode the routed targets of %s: %w", id, err)
	}
	for i := range all {
		if all[i].ID == webhookID {
			return &all[i], nil
		}
	}
	return nil, nil
}

// originalInput reads the input of the event workflow id (its latest run:
// a continued run carries the event and targets too).
func (p *Publisher) originalInput(ctx context.Context, ws, eventID, id string) (workflows.EventInput, error) {
	it := p.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return workflows.EventInput{}, fmt.Errorf("%w: %s", ErrNotFound, eventID)
	}
	e, err := it.Next()
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return workflows.EventInput{}, fmt.Errorf("%w: %s", ErrNotFound, eventID)
		}
		return workflows.EventInput{}, fmt.Errorf("read the start of %s: %w", id, err)
	}
	attrs := e.GetWorkflowExecutionStartedEventAttributes()
	var in workflows.EventInput
	if attrs == nil || attrs.GetWorkflowType().GetName() != workflows.EventWorkflowName || p.dc.FromPayloads(attrs.GetInput(), &in) != nil || in.Event.Workspace != ws {
		return workflows.EventInput{}, fmt.Errorf("%w: %s", ErrNotFound, eventID)
	}
	return in, nil
}

// nextRedelivery finds the number of the next keyless redelivery of
// deliveryID, or the last one when it is running or started within
// RedeliverWindow.
func (p *Publisher) nextRedelivery(ctx context.Context, ws, deliveryID string) (int, *Redelivery, error) {
	var last *Redelivery
	for n := 1; n <= MaxRedeliveries; n++ {
		id := workflows.RedeliveryWorkflowID(ws, fmt.Sprintf("r%d", n), deliveryID)
		desc, err := p.c.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return n, last, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("describe %s: %w", id, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		last = nil
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || time.Since(info.GetStartTime().AsTime()) < RedeliverWindow {
			last = &Redelivery{RedeliveryID: id, RunID: info.GetExecution().GetRunId(), DeliveryID: deliveryID, Duplicate: true}
		}
	}
	if last != nil {
		return 0, last, nil
	}
	return 0, nil, fmt.Errorf("%w: delivery %s was redelivered %d times; send it again with a key", ErrTooManyRedeliveries, deliveryID, MaxRedeliveries)
}

// startRedelivery starts redelivery id, or finds it started.
func (p *Publisher) startRedelivery(ctx context.Context, in workflows.EventInput, orig, id string) (Redelivery, error) {
	r := Redelivery{RedeliveryID: id, DeliveryID: workflows.DeliveryID(in.Event.ID, in.Routed[0].ID), RedeliveryOf: orig}
	leave, err := p.gates.enter(ctx, in.Event.Workspace)
	if err != nil {
		return Redelivery{}, err
	}
	defer leave()
	run, err := p.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                p.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    workflows.RedeliverySearchAttributes(in, orig),
		Priority:                                 temporal.Priority{FairnessKey: workflows.FairnessKey(in.Event.Workspace)},
	}, workflows.EventWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		r.Duplicate, r.RunID = true, started.RunId
		return r, nil
	}
	if err != nil {
		return Redelivery{}, fmt.Errorf("start redelivery %s: %w", id, err)
	}
	r.RunID = run.GetRunID()
	return r, nil
}

// ShowRedelivery is Show for a redelivery: its outcome so far.
func (p *Publisher) ShowRedelivery(ctx context.Context, ws, redeliveryID string) (Outcome, error) {
	eventID, err := p.redeliveryRef(ws, redeliveryID)
	if err != nil {
		return Outcome{}, err
	}
	return p.show(ctx, ws, eventID, redeliveryID)
}

// WaitRedelivery is Wait for a redelivery.
func (p *Publisher) WaitRedelivery(ctx context.Context, ws, redeliveryID string) (Outcome, error) {
	eventID, err := p.redeliveryRef(ws, redeliveryID)
	if err != nil {
		return Outcome{}, err
	}
	if err := p.owned(ctx, ws, eventID, redeliveryID); err != nil {
		return Outcome{}, err
	}
	return p.wait(ctx, eventID, redeliveryID)
}

// redeliveryRef is the event ID of workspace ws's redelivery id.
func (p *Publisher) redeliveryRef(ws, id string) (string, error) {
	owner, _, deliveryID, ok := workflows.ParseRedeliveryWorkflowID(id)
	if !ok || owner != ws {
		return "", fmt.Errorf("%w: redelivery %s", ErrNotFound, id)
	}
	// The event ID is the delivery ID less its last ":<webhook id>"
	// (webhook IDs hold no ':').
	i := strings.LastIndex(deliveryID, ":")
	if i <= 0 {
		return "", fmt.Errorf("%w: redelivery %s", ErrNotFound, id)
	}
	return deliveryID[:i], nil
}
