// Package publisher is the Go API HARi services use to publish CRM events
// and read their delivery outcomes. It starts one EventWorkflow per event,
// with a workflow ID derived from the event ID, so a second publish of the
// same event is refused and reported as a duplicate.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/workflows"
)

// ErrNotFound means no event with that ID was published (or its history
// has passed the namespace's retention).
var ErrNotFound = errors.New("event not found")

// ErrIDTaken means the event's workflow ID is held by a workflow that is
// not this workspace's event (started by a raw client): the event cannot
// start, and is not a duplicate either.
var ErrIDTaken = errors.New("event id taken")

// Router finds the configured webhooks an event matches (registry.Client).
type Router interface {
	Routes(ctx context.Context, ev event.Event) ([]endpoint.Routed, error)
}

// Publisher publishes events through a Temporal client.
type Publisher struct {
	c                   client.Client
	dc                  converter.DataConverter
	taskQueue           string
	router              Router
	routeWait           time.Duration
	targets             Targets
	recoveryConcurrency int
	hosts               interface{ CheckHost(host string) error }
	gates               *gates
	// allowDirect: Options.AllowDirectSecrets.
	allowDirect bool
	// ended keeps the execution log's ended deliveries (see DeliveriesPage).
	ended *endedCache
}

// gates bounds concurrent publishes per workspace.
type gates struct {
	n  int
	mu sync.Mutex
	by map[string]chan struct{}
}

func (g *gates) enter(ctx context.Context, ws string) (func(), error) {
	if g == nil {
		return func() {}, nil
	}
	g.mu.Lock()
	ch, ok := g.by[ws]
	if !ok {
		ch = make(chan struct{}, g.n)
		g.by[ws] = ch
	}
	g.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			<-ch
			if len(ch) == 0 && g.by[ws] == ch {
				delete(g.by, ws) // no entry left behind per workspace name
			}
		}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("publish: %w", ctx.Err())
	}
}

// Options configure a Publisher.
type Options struct {
	// TaskQueue defaults to workflows.TaskQueue.
	TaskQueue string
	// DataConverter must be the client's (it decodes pending attempt logs);
	// nil means Temporal's default.
	DataConverter converter.DataConverter
	// Router routes events published without targets to the workspace's
	// matching webhooks; nil allows direct mode only.
	Router Router
	// Targets reads a webhook's current target for redeliveries; nil
	// takes Router when it has a Target method (registry.Client).
	Targets Targets
	// Hosts, when set, refuses direct targets aimed at blocked addresses.
	Hosts interface{ CheckHost(host string) error }
	// AllowDirectSecrets allows, at publish, direct targets that carry a
	// plaintext secret. Unset, they are refused (as the worker refuses them
	// unless HARI_ALLOW_DIRECT_TARGETS is on), so the caller gets a 400
	// instead of a failed delivery. Set it where the workers allow them.
	AllowDirectSecrets bool
	// RecoveryConcurrency is how many redeliveries a recovery runs at once
	// (default workflows.DefaultRecoveryConcurrency, 10: a fifth of the
	// default workspace limit); the worker sets a fifth of its limit.
	RecoveryConcurrency int
	// PerWorkspace bounds the concurrent publish calls of one workspace
	// from this process (default 16; negative: no bound), so that a bulk
	// import cannot take every connection to Temporal from the others.
	PerWorkspace int
	// RouteWait bounds how long Publish waits for the registry to route
	// an event (default DefaultRouteWait). Past it, or when the registry
	// fails for a reason that may pass, the workflow is started with only
	// the event and routes it itself; negative: never (the publish fails
	// with the registry's error).
	RouteWait time.Duration
}

// New returns a Publisher over c.
func New(c client.Client, opts Options) *Publisher {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.DataConverter == nil {
		opts.DataConverter = converter.GetDefaultDataConverter()
	}
	if opts.RouteWait == 0 {
		opts.RouteWait = DefaultRouteWait
	}
	p := &Publisher{c: c, dc: opts.DataConverter, taskQueue: opts.TaskQueue, router: opts.Router, targets: opts.Targets, hosts: opts.Hosts, allowDirect: opts.AllowDirectSecrets, routeWait: opts.RouteWait, ended: newEndedCache()}
	p.recoveryConcurrency = min(max(opts.RecoveryConcurrency, 0), workflows.MaxRecoveryConcurrency)
	if t, ok := opts.Router.(Targets); ok && p.targets == nil {
		p.targets = t
	}
	if opts.PerWorkspace == 0 {
		opts.PerWorkspace = 16
	}
	if opts.PerWorkspace > 0 {
		p.gates = &gates{n: opts.PerWorkspace, by: map[string]chan struct{}{}}
	}
	return p
}

// Receipt says what a publish did.
type Receipt struct {
	EventID    string `json:"event_id"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	// Duplicate is true when an event with this ID was published before;
	// nothing new was started.
	Duplicate bool `json:"duplicate"`
	// NoMatch is true when the event matched no active webhook: nothing
	// was started and nothing will be delivered.
	NoMatch bool `json:"no_match,omitempty"`
	// Matched is the number of deliveries started. It is 0 when
	// RoutedByWorkflow: the event's outcome (Wait, Show) tells.
	Matched int `json:"matched"`
	// RoutedByWorkflow is true when the webhook registry did not answer
	// within RouteWait: the workflow was started with only the event and
	// routes it itself, durably (see "Routing" in the README), instead of
	// the publish failing or waiting on a slow registry.
	RoutedByWorkflow bool `json:"routed_by_workflow,omitempty"`
}

// Message is what a publish carries: the event and, in direct mode, its
// targets. In JSON the targets sit next to the event's fields. A target
// has no sealed fields: "sealed_secret" and the like are unknown keys here
// (only the webhook registry produces sealed targets).
type Message struct {
	event.Event
	Targets []endpoint.Target `json:"targets"`
}

// ParseMessage decodes and validates a publish message: strict JSON, at
// most event.MaxSize bytes, a valid event (given a new UUID when it has no
// id) and valid, uniquely named targets.
func ParseMessage(data []byte) (workflows.EventInput, error) {
	if len(data) > event.MaxSize {
		return workflows.EventInput{}, fmt.Errorf("%w: message is %d bytes, the limit is %d", event.ErrInvalid, len(data), event.MaxSize)
	}
	var m Message
	if err := event.StrictUnmarshal(data, &m); err != nil {
		var fe *event.FieldError
		if errors.As(err, &fe) && fe.Message == "unknown field" {
			if msg, ok := endpoint.RouterOnlyMessage(fe.Field); ok {
				return workflows.EventInput{}, fmt.Errorf("%w: %w", event.ErrInvalid, &event.FieldError{Field: fe.Field, Message: msg})
			}
		}
		return workflows.EventInput{}, err
	}
	in := workflows.EventInput{Event: m.Event, Targets: m.Targets}
	if err := Validate(&in); err != nil {
		return workflows.EventInput{}, err
	}
	return in, nil
}

// Validate checks an input before it is published and gives the event an
// ID when it has none. No targets is valid: the event is then routed to
// the workspace's configured webhooks.
func Validate(in *workflows.EventInput) error {
	if in.Event.ID == "" {
		in.Event.ID = uuid.NewString()
	}
	if err := in.Event.Validate(); err != nil {
		return err
	}
	if len(in.Routed) > 0 {
		return fmt.Errorf("%w: routed: only the publisher fills routed targets, from the webhook registry; name direct targets in targets with a plaintext secret", endpoint.ErrInvalid)
	}
	if len(in.Targets) > MaxTargets {
		return fmt.Errorf("%w: targets: at most %d per event, got %d", endpoint.ErrInvalid, MaxTargets, len(in.Targets))
	}
	seen := map[string]bool{}
	urls := map[string]string{} // canonical URL -> target ID
	for _, t := range in.Targets {
		if err := t.Validate(); err != nil {
			return err
		}
		if seen[t.ID] {
			return fmt.Errorf("%w: target id %q appears twice", endpoint.ErrInvalid, t.ID)
		}
		seen[t.ID] = true
		// One event, one delivery per endpoint: the same URL named many
		// times would fan one publish out against one receiver.
		u := endpoint.CanonicalURL(t.URL)
		if first, dup := urls[u]; dup {
			return fmt.Errorf("%w: targets %s and %s: url: the same URL appears twice; an event is delivered once to each URL", endpoint.ErrInvalid, first, t.ID)
		}
		urls[u] = t.ID
	}
	if i, msg := endpoint.PerHostError(in.Targets); i >= 0 {
		return fmt.Errorf("%w: %s", endpoint.ErrInvalid, msg)
	}
	return nil
}

// CheckSize refuses an input whose JSON encoding (the event and its
// targets, as the API reads a publish message) is over event.MaxSize.
func CheckSize(in workflows.EventInput) error {
	n, err := workflows.EncodedSize(in)
	if err != nil {
		return fmt.Errorf("%w: json: %v", event.ErrInvalid, err)
	}
	if n > event.MaxSize {
		return fmt.Errorf("%w: %w", event.ErrInvalid, &event.FieldError{Field: "event", Message: fmt.Sprintf("is %d bytes encoded with its targets, the limit is %d", n, event.MaxSize)})
	}
	return nil
}

// MaxTargets bounds the direct targets of one event.
const MaxTargets = 50

// Publish validates in and starts its workflow. Bad input returns an error
// wrapping event.ErrInvalid or endpoint.ErrInvalid and starts nothing.
func (p *Publisher) Publish(ctx context.Context, in workflows.EventInput) (Receipt, error) {
	if err := Validate(&in); err != nil {
		return Receipt{}, err
	}
	if err := CheckSize(in); err != nil {
		return Receipt{}, err
	}
	if !p.allowDirect {
		for _, t := range in.Targets {
			if t.Secret != "" {
				return Receipt{}, fmt.Errorf("%w: target %s: secret: %s", endpoint.ErrInvalid, t.ID, activities.DirectSecretAdvice)
			}
		}
	}
	if p.hosts != nil {
		for _, t := range in.Targets {
			if err := p.hosts.CheckHost(endpoint.Host(t.URL)); err != nil {
				return Receipt{}, fmt.Errorf("%w: target %s: url: %w", endpoint.ErrInvalid, t.ID, err)
			}
		}
	}
	leave, err := p.gates.enter(ctx, in.Event.Workspace)
	if err != nil {
		return Receipt{}, err
	}
	defer leave()
	id := workflows.WorkflowID(in.Event.Workspace, in.Event.ID)
	r := Receipt{EventID: in.Event.ID, WorkflowID: id}
	if len(in.Targets) == 0 {
		if p.router == nil {
			return Receipt{}, fmt.Errorf("%w: targets: name at least one target {\"id\", \"url\", \"secret\", \"fields\"} (no webhook registry is configured)", endpoint.ErrInvalid)
		}
		targets, err := p.route(ctx, in.Event)
		if errors.Is(err, errRouteLater) {
			// The workflow routes the event itself, durably (routing in
			// the workflow, as for a raw client's start).
			r.RoutedByWorkflow = true
			r, err := p.start(ctx, in, r)
			if r.Duplicate {
				r.RoutedByWorkflow = false // whichever path routed the first publish
			}
			return r, err
		}
		if err != nil {
			return Receipt{}, fmt.Errorf("route event %s: %w", in.Event.ID, err)
		}
		if len(targets) == 0 {
			// A republished event whose webhook was since deactivated is
			// still a duplicate, not a no-match.
			if _, err := p.c.DescribeWorkflowExecution(ctx, id, ""); err == nil {
				if err := p.checkOwner(ctx, in.Event.Workspace, in.Event.ID, id); err != nil {
					return Receipt{}, err
				}
				r.Duplicate = true
				return r, nil
			}
			r.NoMatch, r.WorkflowID = true, ""
			return r, nil
		}
		in.Routed = targets
	}
	r.Matched = len(in.Targets) + len(in.Routed)
	return p.start(ctx, in, r)
}

// start starts in's workflow; r is the receipt so far.
func (p *Publisher) start(ctx context.Context, in workflows.EventInput, r Receipt) (Receipt, error) {
	id := r.WorkflowID
	run, err := p.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                p.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		EnableEagerStart:                         true,
		TypedSearchAttributes:                    workflows.SearchAttributes(in, workflows.StatusPending),
		// Task-queue fairness: one workspace's backlog does not queue up
		// another's deliveries (with matching.enableFairness on the server).
		Priority: temporal.Priority{FairnessKey: workflows.FairnessKey(in.Event.Workspace)},
	}, workflows.EventWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		if err := p.checkOwner(ctx, in.Event.Workspace, in.Event.ID, id); err != nil {
			return Receipt{}, err
		}
		r.Duplicate = true
		r.RunID = started.RunId
		return r, nil
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("start workflow %s: %w", id, err)
	}
	r.RunID = run.GetRunID()
	return r, nil
}

// eventWorkspace reads the workspace of the event that workflow id was
// started for, from its current run's decoded input; "" when the workflow
// is not one of our events (another type, or an input that does not
// decode: the data converter refuses an input that is not encrypted with
// the codec, so a client without the key ring never passes for one of
// ours). err is a failure to read the history.
func (p *Publisher) eventWorkspace(ctx context.Context, id string) (string, error) {
	it := p.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return "", nil
	}
	e, err := it.Next()
	if err != nil {
		return "", fmt.Errorf("read the start of %s: %w", id, err)
	}
	attrs := e.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil || attrs.GetWorkflowType().GetName() != workflows.EventWorkflowName {
		return "", nil
	}
	var in workflows.EventInput
	if err := p.dc.FromPayloads(attrs.GetInput(), &in); err != nil {
		return "", nil
	}
	return in.Event.Workspace, nil
}

// checkOwner confirms that the workflow holding id is workspace ws's
// event: else the publish is refused with ErrIDTaken, never reported as a
// duplicate (which would lose the event silently).
func (p *Publisher) checkOwner(ctx context.Context, ws, eventID, id string) error {
	owner, err := p.eventWorkspace(ctx, id)
	if err != nil {
		return fmt.Errorf("check the workflow that holds %s: %w", id, err)
	}
	if owner != ws {
		return fmt.Errorf("%w: id: workflow %s exists but is not workspace %s's event %s, so this event cannot start; publish it under another id", ErrIDTaken, id, ws, eventID)
	}
	return nil
}

// owned is checkOwner for reads: a workflow that is not ws's event is not
// found.
func (p *Publisher) owned(ctx context.Context, ws, eventID, id string) error {
	owner, err := p.eventWorkspace(ctx, id)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) || (err == nil && owner != ws) {
		return fmt.Errorf("%w: %s", ErrNotFound, eventID)
	}
	if err != nil {
		return fmt.Errorf("check the workflow %s: %w", id, err)
	}
	return nil
}

// Outcome is the state of an event's deliveries.
type Outcome struct {
	EventID    string `json:"event_id"`
	WorkflowID string `json:"workflow_id"`
	Duplicate  bool   `json:"duplicate"`
	// Done is true once every delivery has its final outcome.
	Done bool `json:"done"`
	// Error is set when the event's workflow ended without delivering (an
	// input the worker refused, or a workflow ended by an operator).
	Error      string                     `json:"error,omitempty"`
	Deliveries []workflows.DeliveryResult `json:"deliveries"`
	// NoMatch is true when the workflow routed the event itself (a raw
	// start with only the event) and no active webhook matched it:
	// nothing was sent.
	NoMatch bool `json:"no_match,omitempty"`
	// RoutingFailed is true when the workflow was to route the event
	// itself and could not (Error gives the reason): nothing was sent.
	// The README says how to route it again (a workflow reset).
	RoutingFailed bool `json:"routing_failed,omitempty"`
	// Busy is true when the workflow did not answer within ShowQueryWait
	// (it is in the middle of a first attempt, which can take up to the
	// attempt timeout): Deliveries then lists the deliveries it started
	// with as pending, without attempts. Ask again a moment later.
	Busy bool `json:"busy,omitempty"`
}

// timedOut reports whether a call bounded by qctx failed for lack of time:
// the server answers DeadlineExceeded a moment before the caller's own
// deadline passes ("query timed out before a worker could process it").
func timedOut(err error, qctx context.Context) bool {
	var dl *serviceerror.DeadlineExceeded
	return errors.Is(qctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &dl)
}

// ShowQueryWait bounds Show's status query of a running event workflow.
const ShowQueryWait = 2 * time.Second

// pendingFromInput lists the deliveries the current run of workflow id
// started with, each pending; none when its input cannot be read or names
// none (an event the workflow routes itself, or a continued run).
func (p *Publisher) pendingFromInput(ctx context.Context, id string) []workflows.DeliveryResult {
	out := []workflows.DeliveryResult{}
	it := p.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return out
	}
	e, err := it.Next()
	if err != nil {
		return out
	}
	var in workflows.EventInput
	if attrs := e.GetWorkflowExecutionStartedEventAttributes(); attrs == nil || p.dc.FromPayloads(attrs.GetInput(), &in) != nil || in.Continued != nil {
		return out
	}
	for _, t := range in.Targets {
		out = append(out, workflows.DeliveryResult{WebhookID: t.ID, DeliveryID: workflows.DeliveryID(in.Event.ID, t.ID), URL: t.URL, Status: workflows.StatusPending, Attempts: []delivery.Attempt{}})
	}
	for _, r := range in.Routed {
		out = append(out, workflows.DeliveryResult{WebhookID: r.ID, DeliveryID: workflows.DeliveryID(in.Event.ID, r.ID), URL: r.URL, Status: workflows.StatusPending, Attempts: []delivery.Attempt{}})
	}
	return out
}

// endedWithoutDelivering reads the failure of an event workflow that ended
// on purpose before any delivery: routing that failed (routing is true)
// or input the worker refused. ok is false for any other error.
func endedWithoutDelivering(err error) (why string, routing, ok bool) {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		return "", false, false
	}
	switch app.Type() {
	case workflows.ErrTypeRoutingFailed:
		return "routing failed, nothing was sent: " + app.Message(), true, true
	case workflows.ErrTypeInvalidEvent:
		return "the worker refused the event, nothing was sent: " + app.Message(), false, true
	}
	return "", false, false
}

// Wait blocks until every delivery of workspace ws's event eventID has its
// outcome.
func (p *Publisher) Wait(ctx context.Context, ws, eventID string) (Outcome, error) {
	if err := validateRef(ws, eventID); err != nil {
		return Outcome{}, err
	}
	id := workflows.WorkflowID(ws, eventID)
	if err := p.owned(ctx, ws, eventID, id); err != nil {
		return Outcome{}, err
	}
	return p.wait(ctx, eventID, id)
}

// wait is Wait of event workflow id, whose owner was checked.
func (p *Publisher) wait(ctx context.Context, eventID, id string) (Outcome, error) {
	var res workflows.EventResult
	if err := p.c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return Outcome{}, fmt.Errorf("%w: %s", ErrNotFound, eventID)
		}
		if why, routing, ok := endedWithoutDelivering(err); ok {
			return Outcome{EventID: eventID, WorkflowID: id, Done: true, Deliveries: []workflows.DeliveryResult{}, Error: why, RoutingFailed: routing}, nil
		}
		return Outcome{}, fmt.Errorf("wait for %s: %w", id, err)
	}
	return Outcome{EventID: eventID, WorkflowID: id, Done: true, Deliveries: res.Deliveries, NoMatch: res.NoMatch}, nil
}

// validateRef checks the workspace and event ID that name an event.
func validateRef(ws, eventID string) error {
	if err := event.ValidateWorkspace(ws); err != nil {
		return err
	}
	return (event.Event{ID: eventID}).ValidateID()
}

// Show returns the event's deliveries now, with every attempt made so far,
// also while a delivery is between retries: the workflow's status query
// gives the outcomes it knows, and the pending DeliverWebhook activities'
// heartbeat details give the attempts made since.
func (p *Publisher) Show(ctx context.Context, ws, eventID string) (Outcome, error) {
	if err := validateRef(ws, eventID); err != nil {
		return Outcome{}, err
	}
	return p.show(ctx, ws, eventID, workflows.WorkflowID(ws, eventID))
}

// show is Show of event workflow id (the event's own, or a redelivery's).
func (p *Publisher) show(ctx context.Context, ws, eventID, id string) (Outcome, error) {
	desc, err := p.c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return Outcome{}, fmt.Errorf("%w: %s", ErrNotFound, eventID)
		}
		return Outcome{}, fmt.Errorf("describe %s: %w", id, err)
	}
	if err := p.owned(ctx, ws, eventID, id); err != nil {
		return Outcome{}, err
	}
	out := Outcome{EventID: eventID, WorkflowID: id}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			// Ended otherwise (terminated by an operator, refused input):
			// the query still answers on a closed workflow with what it had.
			out.Done, out.Deliveries = true, []workflows.DeliveryResult{}
			out.Error = "the event's workflow ended " + strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_")) + " before every delivery had its outcome"
			if status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
				if why, routing, ok := endedWithoutDelivering(p.c.GetWorkflow(ctx, id, "").Get(ctx, nil)); ok {
					out.Error, out.RoutingFailed = why, routing
				}
			}
			if val, err := p.c.QueryWorkflow(ctx, id, "", workflows.QueryStatus); err == nil {
				var res workflows.EventResult
				if val.Get(&res) == nil && res.Deliveries != nil {
					out.Deliveries = res.Deliveries
				}
			}
			return out, nil
		}
		return p.wait(ctx, eventID, id)
	}
	// A workflow answers queries between its workflow tasks only, and a
	// first attempt runs inside one (a local activity): against a receiver
	// that hangs, the query would wait up to the attempt's 15 s.
	qctx, cancel := context.WithTimeout(ctx, ShowQueryWait)
	val, err := p.c.QueryWorkflow(qctx, id, "", workflows.QueryStatus)
	cancel()
	if err != nil && ctx.Err() == nil && timedOut(err, qctx) {
		out.Deliveries, out.Busy = p.pendingFromInput(ctx, id), true
		return out, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("query %s: %w", id, err)
	}
	var res workflows.EventResult
	if err := val.Get(&res); err != nil {
		return Outcome{}, fmt.Errorf("decode status of %s: %w", id, err)
	}
	pending := map[string][]delivery.Attempt{}
	for _, pa := range desc.GetPendingActivities() {
		details := pa.GetHeartbeatDetails()
		if details == nil || len(details.GetPayloads()) == 0 {
			continue
		}
		var log []delivery.Attempt
		if err := p.dc.FromPayloads(details, &log); err != nil {
			return Outcome{}, fmt.Errorf("decode attempt log of %s: %w", pa.GetActivityId(), err)
		}
		// "deliver/<webhook>" or, after a wait for a slot, ".../busy-N".
		id := pa.GetActivityId()
		if i := strings.Index(id, "/busy-"); i > 0 {
			id = id[:i]
		}
		pending[id] = log
	}
	for i, d := range res.Deliveries {
		if log := pending[workflows.DeliverActivityID(d.WebhookID)]; len(log) > len(d.Attempts) {
			res.Deliveries[i].Attempts = log
		}
	}
	out.Deliveries = res.Deliveries
	return out, nil
}
