// Package activities makes delivery attempts: the side effects under the
// workflows. DeliverWebhook is the activity that carries the retry policy;
// FirstAttempt is the same attempt run as a local activity, so that the
// common case (the receiver answers 2xx at once) costs few history events.
package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/limiter"
)

// Limiter bounds in-flight attempts per workspace (limiter.Local,
// limiter.Redis).
type Limiter interface {
	// TryAcquire takes a slot if one is free now and nobody waits for it.
	TryAcquire(ctx context.Context, workspace string) (release func(), ok bool, err error)
	// Acquire waits for a slot until ctx ends; older tickets go first.
	Acquire(ctx context.Context, workspace string, t limiter.Ticket) (release func(), err error)
}

// SecretOpener opens secrets sealed by the registry's clients
// (codec.Keyring): Open only v3 seals, bound to a workspace, webhook and
// canonical URL; OpenLegacy the unbound v1 seals of inputs recorded before
// bound seals existed.
type SecretOpener interface {
	Open(sealed, workspace, webhookID, url string) (string, error)
	OpenLegacy(sealed string) (string, error)
}

// WorkflowQuerier queries a workflow run (client.Client). DeliverWebhook
// uses it to fetch the body of its delivery from the event's workflow.
type WorkflowQuerier interface {
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
}

// QueryDeliveryBody is the query, answered by the event's workflow, that
// returns the body of one delivery (argument: the delivery ID) as bytes.
// DeliverWebhook's input carries no body: an input is recorded in history
// each time the activity is scheduled, and a delivery waiting for a slot is
// scheduled again and again.
const QueryDeliveryBody = "delivery_body"

// bodyQueryTimeout bounds the body query of one DeliverWebhook attempt.
const bodyQueryTimeout = 10 * time.Second

// Recorder receives delivery metrics (metrics.Metrics).
type Recorder interface {
	Attempt(statusCode int, class string, d time.Duration)
	InFlight(workspace string, delta float64)
	Wait(outcome string, d time.Duration)
}

// Activities holds the dependencies of the delivery activities.
type Activities struct {
	// Metrics, when set, records attempts, in-flight counts and waits.
	Metrics Recorder
	// Secrets opens sealed webhook secrets; nil means only direct-mode
	// plaintext secrets can be used.
	Secrets SecretOpener
	// Client makes the HTTP attempts; build it with NewHTTPClient.
	Client *http.Client
	// Workflows answers the body queries of DeliverWebhook (the worker's
	// Temporal client, so its data converter decodes the answer).
	Workflows WorkflowQuerier
	// BodyCache bounds the bytes of bodies that FirstAttempt keeps for
	// DeliverWebhook on this worker (default 64 MiB; negative: none, every
	// DeliverWebhook attempt queries its workflow).
	BodyCache int
	// Limiter bounds concurrent attempts per workspace; nil means no limit.
	Limiter Limiter
	// Router routes events started without targets (RouteEvent); nil
	// means such an event's workflow fails with ErrTypeNoRouter.
	Router Router
	// AllowDirectSecrets allows direct targets that carry a plaintext
	// secret (direct mode). Unset, every such target is refused: its
	// delivery fails with the reason, before any attempt. The worker sets
	// it only when HARI_ALLOW_DIRECT_TARGETS is on (see the README's trust
	// model).
	AllowDirectSecrets bool
	// AttemptTimeout bounds each HTTP attempt; zero means the spec's 15 s.
	// Tests shorten it.
	AttemptTimeout time.Duration
	// SlotWait bounds how long DeliverWebhook waits for a workspace slot
	// (default 30 s) and MaxWaiters how many of its activities may wait per
	// workspace in this process (default 20, the oldest deliveries), so
	// that busy workspaces never fill the worker's activity slots. Beyond
	// either, the activity returns ErrTypeWorkspaceBusy without making an
	// attempt (saying whether the limiter keeps the delivery's place), and
	// the workflow queues the delivery again later. A long round costs nothing
	// but a goroutine; each round costs history events and server work.
	SlotWait   time.Duration
	MaxWaiters int
	// FirstWait bounds how long the fast first attempt waits for a slot
	// (default 250 ms), absorbing short bursts at the limit; beyond, the
	// delivery goes to DeliverWebhook.
	FirstWait time.Duration
	// LocalPerWorkspace and LocalTotal bound the fast first attempts (local
	// activities, each holding a workflow-task slot) in flight in this
	// process: per workspace (default 8) and in all (default 200; the
	// worker sets 40% of its workflow-task slots; a quarter is kept for
	// workspaces holding none). SlowAfter (default 500 ms) and SlowFor
	// (default 30 s) make a target (a webhook of a workspace) "slow": while
	// one of its attempts has run longer than SlowAfter, and for SlowFor
	// after an attempt took longer or timed out, its first attempts are
	// made by DeliverWebhook instead; a target not seen answering fast
	// within SlowFor gets 2 local first attempts at once. See localGate.
	LocalPerWorkspace, LocalTotal int
	SlowAfter, SlowFor            time.Duration

	// RouteLocalPerWorkspace bounds the routing local activities of one
	// workspace in flight in this process (default 2), and
	// RouteUnavailableFor (default 2 s) how long, after one found the
	// registry unavailable, the workspace's routings skip the local
	// activity; both then go straight to the regular activity. See
	// routeGate.
	RouteLocalPerWorkspace int
	RouteUnavailableFor    time.Duration

	routesOnce   sync.Once
	routes       *routeGate
	gateOnce     sync.Once
	gate         *localGate
	bodiesOnce   sync.Once
	bodies       *bodyCache
	waiting      waitQueue // DeliverWebhook
	firstWaiting waitQueue // FirstAttempt
}

// DeliverInput is one delivery: where and how to send it, and the body.
// The workflow gives FirstAttempt (a local activity, whose input is not
// recorded in history) the body inline; DeliverWebhook gets none and asks
// the workflow for it (QueryDeliveryBody).
type DeliverInput struct {
	DeliveryID string `json:"delivery_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	Workspace  string `json:"workspace"`
	WebhookID  string `json:"webhook_id"`
	URL        string `json:"url"`
	Secret     string `json:"secret,omitempty"`
	// SealedSecret is opened just before signing; it wins over Secret.
	SealedSecret string `json:"sealed_secret,omitempty"`
	// PreviousSealedSecret also signs webhook-signature until PreviousUntil.
	PreviousSealedSecret string    `json:"previous_sealed_secret,omitempty"`
	PreviousUntil        time.Time `json:"previous_until,omitempty"`
	// Bound is set by every current workflow: the sealed secrets open only
	// as v2 seals of Workspace and WebhookID. Inputs recorded before v2
	// seals existed lack it, and may open a v1 seal.
	Bound bool `json:"bound,omitempty"`
	// NoSecretHeader sends only the signatures, not X-Webhook-Secret.
	NoSecretHeader bool `json:"no_secret_header,omitempty"`
	// Body is set for FirstAttempt. DeliverWebhook inputs scheduled before
	// the body query existed carry it too, and it is then used as is.
	Body []byte `json:"body,omitempty"`
	// PriorAttempts are attempts made before this activity was scheduled
	// (the fast first attempt); numbering continues after them.
	PriorAttempts []delivery.Attempt `json:"prior_attempts,omitempty"`
	// WaitingSince is when the delivery began to wait for a slot (the
	// event workflow's start, carried over continue-as-new). It is the
	// delivery's place in the workspace's queue: a freed slot goes to the
	// oldest waiting delivery of the deployment. Zero: the activity's
	// scheduled time.
	WaitingSince time.Time `json:"waiting_since,omitempty"`
	// HoldPlace is how long DeliverWebhook's place in the queue is kept
	// after a round of waiting that ran out (its ErrTypeWorkspaceBusy
	// failure then says so in a second detail): the workflow comes back
	// within it, after a short timer. Only a delivery that waited among the oldest of its
	// workspace in this worker holds a place; one turned away at once
	// (MaxWaiters older ones wait here) does not, nor a first attempt.
	// Zero (inputs of workflows from before places were kept): the place
	// is given up with the round.
	HoldPlace time.Duration `json:"hold_place,omitempty"`
}

// DeliverResult is every attempt of a delivery, oldest first.
type DeliverResult struct {
	Attempts []delivery.Attempt `json:"attempts"`
}

// FirstResult is the outcome of the fast first attempt.
type FirstResult struct {
	// Attempt is nil when no attempt was made because the workspace had no
	// free slot (Limited).
	Attempt *delivery.Attempt `json:"attempt,omitempty"`
	Limited bool              `json:"limited,omitempty"`
}

// FirstAttempt makes attempt 1 of a delivery if the workspace has a free
// slot now (or within FirstWait). It runs as a local activity, which holds
// its workflow task's slot while it runs, so it runs only when the worker's
// local gate admits it (few per workspace, a bounded total, never for a
// workspace whose receiver is slow); otherwise, and at the limit, it
// returns Limited at once and the workflow hands the delivery to
// DeliverWebhook. HTTP failures are reported in the result, not as errors;
// the workflow decides what follows.
func (a *Activities) FirstAttempt(ctx context.Context, in DeliverInput) (res FirstResult, err error) {
	defer func() {
		// Handed on to DeliverWebhook: keep the body for it.
		if err == nil && (res.Limited || res.Attempt != nil && res.Attempt.Retryable()) {
			a.bodyCache().put(bodyKey(activity.GetInfo(ctx).WorkflowExecution.RunID, in.DeliveryID), in.Body)
		}
	}()
	pass, reason := a.localGate().enter(in.Workspace, in.WebhookID)
	if pass == nil {
		a.recordWait(reason, 0)
		return FirstResult{Limited: true}, nil
	}
	defer pass.leave()
	if a.Limiter != nil {
		release, err := a.firstSlot(ctx, in)
		if err != nil {
			// The limiter is unreachable: no attempt was made; the
			// delivery goes to DeliverWebhook, which waits for it.
			activity.GetLogger(ctx).Warn("delivery limiter unavailable", "workspace", in.Workspace, "error", err)
			return FirstResult{Limited: true}, nil
		}
		if release == nil {
			return FirstResult{Limited: true}, nil
		}
		defer release()
	}
	req, err := a.request(in, len(in.PriorAttempts)+1)
	if err != nil {
		return FirstResult{}, temporal.NewNonRetryableApplicationError(err.Error(), delivery.ErrTypeSecret, nil)
	}
	pass.sending()
	att := a.send(ctx, in, req)
	activity.GetLogger(ctx).Info("webhook attempt", logFields(in, att)...)
	return FirstResult{Attempt: &att}, nil
}

// TestBodyKeep is how much of a Test fire's response body is kept (the
// registry holds the last result of up to 200 webhooks in its state).
const TestBodyKeep = 4 << 10

// TestFire makes one attempt with a sample payload, exactly as a delivery
// would (same headers and signature), and returns its record. It is never
// retried and does not wait for a workspace slot: an admin is waiting.
func (a *Activities) TestFire(ctx context.Context, in DeliverInput) (delivery.Attempt, error) {
	req, err := a.request(in, 1)
	if err != nil {
		return delivery.Attempt{}, temporal.NewNonRetryableApplicationError(err.Error(), delivery.ErrTypeSecret, nil)
	}
	req.KeepBody = TestBodyKeep
	att := a.send(ctx, in, req)
	activity.GetLogger(ctx).Info("webhook test fire", logFields(in, att)...)
	return att, nil
}

// DeliverWebhook makes one attempt per activity attempt; Temporal's retry
// policy on this activity spaces them. Before it returns a failure it
// records the attempt log as heartbeat details, so the next attempt (and
// DescribeWorkflowExecution while it waits) sees every earlier attempt; the
// final result or failure carries the whole log.
func (a *Activities) DeliverWebhook(ctx context.Context, in DeliverInput) (DeliverResult, error) {
	info := activity.GetInfo(ctx)
	log := append([]delivery.Attempt(nil), in.PriorAttempts...)
	if activity.HasHeartbeatDetails(ctx) {
		var saved []delivery.Attempt
		if err := activity.GetHeartbeatDetails(ctx, &saved); err == nil && len(saved) >= len(log) {
			log = saved
		}
	}
	number := len(in.PriorAttempts) + int(info.Attempt)
	// An attempt that left no record was cut off by a worker crash or an
	// activity timeout: say so instead of leaving a gap.
	for n := len(log) + 1; n < number; n++ {
		log = append(log, delivery.Attempt{
			Number: n,
			Class:  delivery.ClassNetwork,
			Error:  "attempt interrupted: the worker stopped or timed out before it recorded the outcome",
		})
	}

	// The body comes first, the slot after: a slot's lease covers the HTTP
	// attempt and little more (HARI_LEASE), and a body query can take
	// seconds; a lease that expired while its attempt still ran would let
	// another attempt take the slot, one over the workspace's limit.
	if len(in.Body) == 0 {
		body, err := a.fetchBody(ctx, in.DeliveryID)
		if err != nil {
			// No attempt was made: the workflow waits and queues again.
			activity.GetLogger(ctx).Warn("delivery body unavailable", "delivery_id", in.DeliveryID, "error", err)
			return DeliverResult{}, temporal.NewApplicationErrorWithOptions(err.Error(), delivery.ErrTypeBodyUnavailable, temporal.ApplicationErrorOptions{
				NonRetryable: true, Cause: err, Details: newAttempts(log, in),
			})
		}
		in.Body = body
	}
	if a.Limiter != nil {
		release, err := a.waitForSlot(ctx, in, info.ScheduledTime)
		if err != nil {
			details := newAttempts(log, in)
			if errors.Is(err, errPlaceKept) {
				// The second detail tells the workflow (delivery.BusyDetails)
				// to come back soon; a workflow from before kept places reads
				// only the first, and waits its growing timer.
				details = []any{attemptsOrNil(details), true}
			}
			return DeliverResult{}, temporal.NewApplicationErrorWithOptions(err.Error(), delivery.ErrTypeWorkspaceBusy, temporal.ApplicationErrorOptions{
				NonRetryable: true, Cause: err, Details: details,
			})
		}
		defer release()
	}
	req, err := a.request(in, number)
	if err != nil {
		return DeliverResult{}, temporal.NewApplicationErrorWithOptions(err.Error(), delivery.ErrTypeSecret, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{log}})
	}
	att := a.send(ctx, in, req)
	log = append(log, att)
	activity.GetLogger(ctx).Info("webhook attempt", logFields(in, att)...)
	if att.Succeeded() {
		return DeliverResult{Attempts: log}, nil
	}
	// The next attempt reads the log from the heartbeat details. A failure
	// that ends the delivery (not retryable, or its last attempt) carries
	// the whole log in its details instead: no heartbeat, one server write
	// fewer for each delivery whose receiver is down.
	if att.Retryable() && number < delivery.MaxAttempts {
		activity.RecordHeartbeat(ctx, log)
	}
	return DeliverResult{}, temporal.NewApplicationErrorWithOptions(att.Summary(), att.ErrorType(), temporal.ApplicationErrorOptions{
		NonRetryable: !att.Retryable(),
		Details:      []any{log},
	})
}

// newAttempts is the details of a failure that made no attempt: the log
// when this activity added attempts to it, none otherwise. A delivery that
// waits for a slot fails round after round, and each failure is recorded
// in history; the workflow already holds the prior attempts.
func newAttempts(log []delivery.Attempt, in DeliverInput) []any {
	if len(log) > len(in.PriorAttempts) {
		return []any{log}
	}
	return nil
}

// attemptsOrNil is the attempt log of newAttempts' details, or nil.
func attemptsOrNil(details []any) []delivery.Attempt {
	if len(details) == 0 {
		return nil
	}
	return details[0].([]delivery.Attempt)
}

// fetchBody takes the delivery's body from this worker's cache (FirstAttempt
// or an earlier round kept it) or else asks the activity's own workflow run for it.
func (a *Activities) fetchBody(ctx context.Context, deliveryID string) ([]byte, error) {
	wf := activity.GetInfo(ctx).WorkflowExecution
	if body, ok := a.bodyCache().get(bodyKey(wf.RunID, deliveryID)); ok && len(body) > 0 {
		return body, nil
	}
	if a.Workflows == nil {
		return nil, errors.New("get delivery body: this worker has no Temporal client for the body query")
	}
	qctx, cancel := context.WithTimeout(ctx, bodyQueryTimeout)
	defer cancel()
	val, err := a.Workflows.QueryWorkflow(qctx, wf.ID, wf.RunID, QueryDeliveryBody, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("get delivery body: query %s: %w", QueryDeliveryBody, err)
	}
	var body []byte
	if err := val.Get(&body); err != nil {
		return nil, fmt.Errorf("get delivery body: decode: %w", err)
	}
	if len(body) == 0 {
		return nil, errors.New("get delivery body: the workflow answered an empty body")
	}
	// The body is fetched before the workspace slot is waited for: keep it,
	// so a delivery that waits round after round on this worker asks once.
	a.bodyCache().put(bodyKey(wf.RunID, deliveryID), body)
	return body, nil
}

// firstSlot takes a slot for the first attempt, waiting briefly
// (FirstWait); a nil release means none was free and DeliverWebhook takes
// over.
func (a *Activities) firstSlot(ctx context.Context, in DeliverInput) (func(), error) {
	t := limiter.Ticket{ID: in.DeliveryID, Since: in.WaitingSince}
	if t.Since.IsZero() {
		t.Since = time.Now()
	}
	rel, err := a.boundedWait(ctx, in.Workspace, t, &a.firstWaiting, orDefault(a.LocalPerWorkspace, 8), orDefault(a.FirstWait, 250*time.Millisecond), "handed_on")
	if errors.Is(err, errNoSlot) {
		return nil, nil
	}
	return rel, err
}

// waitForSlot takes a workspace slot for DeliverWebhook, waiting at most
// SlotWait and only as one of the MaxWaiters oldest deliveries of the
// workspace waiting here.
func (a *Activities) waitForSlot(ctx context.Context, in DeliverInput, scheduled time.Time) (func(), error) {
	t := limiter.Ticket{ID: in.DeliveryID, Since: in.WaitingSince, Hold: in.HoldPlace}
	if t.Since.IsZero() {
		t.Since = scheduled
	}
	return a.boundedWait(ctx, in.Workspace, t, &a.waiting, orDefault(a.MaxWaiters, 20), orDefault(a.SlotWait, 30*time.Second), "busy")
}

// bodyCache returns the cache of bodies handed on by FirstAttempt: at most
// 64 MiB, each kept 10 minutes (retries come seconds later).
func (a *Activities) bodyCache() *bodyCache {
	a.bodiesOnce.Do(func() {
		size := orDefault(a.BodyCache, 64<<20)
		if a.BodyCache < 0 {
			size = 0
		}
		a.bodies = newBodyCache(size, 10*time.Minute)
	})
	return a.bodies
}

// localGate returns the gate of the fast first attempts.
func (a *Activities) localGate() *localGate {
	a.gateOnce.Do(func() {
		a.gate = newLocalGate(orDefault(a.LocalPerWorkspace, 8), orDefault(a.LocalTotal, 200),
			orDefault(a.SlowAfter, 500*time.Millisecond), orDefault(a.SlowFor, 30*time.Second))
	})
	return a.gate
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// send makes the attempt and records its metrics.
func (a *Activities) send(ctx context.Context, in DeliverInput, req Request) delivery.Attempt {
	ws := in.Workspace
	if a.Metrics != nil {
		a.Metrics.InFlight(ws, 1)
		defer a.Metrics.InFlight(ws, -1)
	}
	att := Send(ctx, a.Client, req)
	a.localGate().observe(ws, in.WebhookID, att)
	if a.Metrics != nil {
		a.Metrics.Attempt(att.StatusCode, string(att.Class), time.Duration(att.DurationMS)*time.Millisecond)
	}
	return att
}

func (a *Activities) request(in DeliverInput, attempt int) (Request, error) {
	if !a.AllowDirectSecrets && in.Secret != "" && in.SealedSecret == "" {
		return Request{}, fmt.Errorf("%s: target %s: secret: %s", ErrDirectSecretRefused, in.WebhookID, DirectSecretAdvice)
	}
	secret := in.Secret
	if in.SealedSecret != "" {
		if a.Secrets == nil {
			return Request{}, errors.New("this worker has no key ring to open the webhook secret")
		}
		s, err := a.open(in, in.SealedSecret)
		if err != nil {
			return Request{}, fmt.Errorf("the secret of webhook %s cannot be opened for workspace %s and its URL (a secret sealed for another workspace, webhook or URL never opens; or is its key missing from HARI_CODEC_KEYS?): %w", in.WebhookID, in.Workspace, err)
		}
		secret = s
	}
	var previous string
	if in.PreviousSealedSecret != "" && time.Now().Before(in.PreviousUntil) && a.Secrets != nil {
		if s, err := a.open(in, in.PreviousSealedSecret); err == nil {
			previous = s
		}
	}
	return Request{
		PreviousSecret: previous,
		NoSecretHeader: in.NoSecretHeader,
		URL:            in.URL,
		Body:           in.Body,
		Secret:         secret,
		DeliveryID:     in.DeliveryID,
		EventType:      in.EventType,
		Attempt:        attempt,
		Timeout:        a.AttemptTimeout,
	}, nil
}

// open opens a sealed secret of the delivery: a v3 seal of its workspace,
// webhook and URL; a v1 seal only for inputs recorded before bound seals
// (not Bound).
func (a *Activities) open(in DeliverInput, sealed string) (string, error) {
	if !in.Bound && strings.HasPrefix(sealed, "sealed:v1:") {
		return a.Secrets.OpenLegacy(sealed)
	}
	return a.Secrets.Open(sealed, in.Workspace, in.WebhookID, endpoint.CanonicalURL(in.URL))
}

// ErrDirectSecretRefused starts the reason of a delivery refused because
// its direct target carries a plaintext secret on a worker that does not
// allow direct mode; DirectSecretAdvice says what to do instead.
const (
	ErrDirectSecretRefused = "direct target refused"
	DirectSecretAdvice     = "direct targets with a plaintext secret are refused by this deployment (HARI_ALLOW_DIRECT_TARGETS is off); configure the webhook in the registry (Settings > Webhooks, the API or starter webhooks), where its secret is sealed, and start the event without targets"
)

// logFields never includes the secret or the body (which holds record
// fields, i.e. personal data).
func logFields(in DeliverInput, att delivery.Attempt) []any {
	return []any{
		"delivery_id", in.DeliveryID,
		"workspace", in.Workspace,
		"webhook_id", in.WebhookID,
		"attempt", att.Number,
		"status_code", att.StatusCode,
		"error_class", string(att.Class),
		"duration_ms", att.DurationMS,
	}
}
