package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/payload"
	"github.com/hari-crm/webhooks/webhook"
)

// The webhook registry: one long-running workflow per workspace holds its
// webhooks. Updates validate before they write (a rejected update leaves
// no trace in history); queries read; continue-as-new bounds the history.
const (
	RegistryWorkflowName = "WebhookRegistry"
	registryIDPrefix     = "webhook-registry-"

	UpdateCreate      = "create"
	UpdateUpdate      = "update"
	UpdateSetActive   = "set_active"
	UpdateDelete      = "delete"
	UpdateTestFire    = "test_fire"
	UpdateDismissTest = "dismiss_test"
	// UpdateDisable disables a webhook whose endpoint kept failing.
	UpdateDisable = "disable"

	QueryList       = "list"
	QueryGet        = "get"
	QueryRoutes     = "routes"
	QueryTestResult = "test_result"
	// QueryTarget answers one webhook's target (its current URL and sealed
	// secrets) whether or not it is active: redeliveries use it.
	QueryTarget = "target"
	// QueryState answers the whole state, sealed secrets included (as in
	// the continue-as-new input): recovery reads an ended run with it.
	QueryState = "state"
)

// Error types of rejected registry updates.
const (
	ErrTypeInvalidWebhook = "InvalidWebhook" // details: the field name
	ErrTypeNotFound       = "WebhookNotFound"
	ErrTypeNameTaken      = "WebhookNameTaken"
)

// MaxWebhooks bounds the webhooks of one workspace.
const MaxWebhooks = 200

// The registry continues as new when its history reaches
// registryHistoryLimit events, when the server suggests it, or after
// registryWriteLimit updates in one run (variables so tests can lower them).
var (
	registryHistoryLimit = 2000
	registryWriteLimit   = 300
)

// RegistryWorkflowID is the registry workflow of a workspace.
func RegistryWorkflowID(workspace string) string { return registryIDPrefix + workspace }

// RegistryWorkspace is the workspace of a registry workflow ID.
func RegistryWorkspace(workflowID string) (string, bool) {
	return strings.CutPrefix(workflowID, registryIDPrefix)
}

// RegistryInput starts (or continues) a registry.
type RegistryInput struct {
	Workspace string         `json:"workspace"`
	State     *RegistryState `json:"state,omitempty"`
}

// RegistryState is everything a registry holds.
type RegistryState struct {
	Webhooks []webhook.Webhook     `json:"webhooks"`
	Tests    map[string]TestResult `json:"tests"`
}

// SealedSecret is a new secret, sealed by the client (the registry never
// sees plaintext), with its masked hint. An empty Sealed removes the secret.
type SealedSecret struct {
	Sealed string `json:"sealed"`
	Hint   string `json:"hint"`
}

// WriteRequest creates or updates a webhook.
type WriteRequest struct {
	ID     string         `json:"id"`
	Config webhook.Config `json:"config"`
	// Secret nil keeps the current secret.
	Secret *SealedSecret `json:"secret,omitempty"`
}

// SetActiveRequest activates or deactivates a webhook.
type SetActiveRequest struct {
	ID     string `json:"id"`
	Active bool   `json:"active"`
}

// DisableRequest disables a webhook automatically, with the reason.
type DisableRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	// FailingSince is the start of the failure streak the disable was
	// decided on: a webhook re-enabled after it is left active (the
	// streak was read before the re-enable), and it becomes the webhook's
	// RecoverSince. Unset by requests from before it: disabled anyway.
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

// IDRequest names a webhook.
type IDRequest struct {
	ID string `json:"id"`
}

// TestResult is the outcome of a Test fire: one attempt, no retries.
type TestResult struct {
	WebhookID     string    `json:"webhook_id"`
	EventID       string    `json:"event_id"`
	FiredAt       time.Time `json:"fired_at"`
	StatusCode    int       `json:"status_code"`
	DurationMS    int64     `json:"duration_ms"`
	Body          string    `json:"body"`
	BodyTruncated bool      `json:"body_truncated"`
	Error         string    `json:"error"`
	ErrorClass    string    `json:"error_class,omitempty"`
	Succeeded     bool      `json:"succeeded"`
	// ResponseHeaders are the response's headers as the attempt kept them
	// (delivery.KeepHeaders: at most 2 KiB); absent without a response and
	// in results kept before them. They count towards MaxKeptTestBytes.
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
}

// TestBodyPreview is how many characters of a test response body show
// before "Show more".
const TestBodyPreview = 500

type registry struct {
	workspace string
	state     RegistryState
	writes    int // updates handled in this run
	// resealed asks for a continue-as-new after a reseal, so that the new
	// run's history holds only payloads under the newest key.
	resealed bool
}

func (r *registry) find(id string) (int, error) {
	for i, w := range r.state.Webhooks {
		if w.ID == id {
			return i, nil
		}
	}
	return -1, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("webhook %s not found in workspace %s", id, r.workspace), ErrTypeNotFound, temporal.ApplicationErrorOptions{NonRetryable: true})
}

func (r *registry) validateWrite(req WriteRequest, creating bool) error {
	if creating {
		if strings.TrimSpace(req.ID) == "" || len(req.ID) > 100 {
			return invalidWebhook("id", "is required (at most 100 characters)")
		}
		if _, err := r.find(req.ID); err == nil {
			return invalidWebhook("id", "webhook "+req.ID+" exists already")
		}
		if len(r.state.Webhooks) >= MaxWebhooks {
			return invalidWebhook("id", fmt.Sprintf("a workspace holds at most %d webhooks", MaxWebhooks))
		}
	} else if _, err := r.find(req.ID); err != nil {
		return err
	}
	if err := req.Config.Validate(); err != nil {
		var fe *webhook.FieldError
		if errors.As(err, &fe) {
			return invalidWebhook(fe.Field, fe.Message)
		}
		return invalidWebhook("", err.Error())
	}
	for _, w := range r.state.Webhooks {
		if w.ID != req.ID && strings.EqualFold(w.Name, req.Config.Name) {
			return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("name: a webhook named %q exists already in workspace %s", w.Name, r.workspace), ErrTypeNameTaken, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{"name"}})
		}
	}
	if req.Secret != nil && req.Secret.Sealed != "" && !strings.HasPrefix(req.Secret.Sealed, sealPrefix) {
		return invalidWebhook("secret", "must be sealed by the client in format v3 (bound to its workspace, webhook and URL); the registry never stores plaintext")
	}
	if !creating && req.Secret == nil {
		if err := r.validateKeptSecret(req); err != nil {
			return err
		}
	}
	return r.validateStoredSize(req)
}

// validateKeptSecret refuses an update that keeps the stored secret (no
// "secret" given) while it changes the URL (compared canonically) or turns
// secret_header on: whoever may edit a webhook could otherwise have its
// secret sent to a URL of their choosing without knowing it. The secret is
// sealed for its URL, so a new URL needs it again.
func (r *registry) validateKeptSecret(req WriteRequest) error {
	i, err := r.find(req.ID)
	if err != nil {
		return err
	}
	w := r.state.Webhooks[i]
	if w.SealedSecret == "" {
		return nil
	}
	if endpoint.CanonicalURL(w.URL) != endpoint.CanonicalURL(req.Config.URL) {
		return invalidWebhook("secret", ErrMsgURLNeedsSecret)
	}
	if w.NoSecretHeader && req.Config.SecretHeader != nil && *req.Config.SecretHeader {
		return invalidWebhook("secret", ErrMsgHeaderNeedsSecret)
	}
	return nil
}

// Messages of an update that keeps a secret where it must be given again.
const (
	ErrMsgURLNeedsSecret    = "changing the URL requires the secret again, or \"\" to remove it"
	ErrMsgHeaderNeedsSecret = "turning secret_header on requires the secret again, or \"\" to remove it"
)

// validateStoredSize refuses a write whose stored webhook would pass
// webhook.MaxStoredBytes (the client checks the definition alone; this
// also counts the ID and the sealed secrets, and holds against any client).
func (r *registry) validateStoredSize(req WriteRequest) error {
	var w webhook.Webhook
	if i, err := r.find(req.ID); err == nil {
		w = r.state.Webhooks[i]
	} else {
		w = webhook.Webhook{ID: req.ID, Workspace: r.workspace}
	}
	w.Apply(req.Config)
	if req.Secret != nil {
		w.SetSecret(req.Secret.Sealed, req.Secret.Hint, w.UpdatedAt)
	}
	if n := webhook.EncodedSize(w); n > webhook.MaxStoredBytes {
		return invalidWebhook("definition", fmt.Sprintf("the stored webhook would be %d bytes encoded as JSON, at most %d", n, webhook.MaxStoredBytes))
	}
	return nil
}

func invalidWebhook(field, msg string) error {
	text := msg
	if field != "" {
		text = field + ": " + msg
	}
	return temporal.NewApplicationErrorWithOptions(text, ErrTypeInvalidWebhook, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{field}})
}

// RegistryWorkflow holds one workspace's webhooks until it is told to stop
// (it never is, in normal operation), continuing as new to stay small.
func RegistryWorkflow(ctx workflow.Context, in RegistryInput) error {
	r := &registry{workspace: in.Workspace}
	if in.State != nil {
		r.state = *in.State
	}
	if r.state.Tests == nil {
		r.state.Tests = map[string]TestResult{}
	}

	if err := r.register(ctx); err != nil {
		return err
	}
	if err := r.registerReseal(ctx); err != nil {
		return err
	}
	// tooLargeAt is the write count at which the state was last found too
	// large to carry over; the next check waits for a write after it.
	tooLargeAt := -1
	for {
		if err := workflow.Await(ctx, func() bool {
			info := workflow.GetInfo(ctx)
			return r.writes > tooLargeAt && (info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= registryHistoryLimit || r.writes >= registryWriteLimit ||
				r.resealed)
		}); err != nil {
			return err
		}
		// Let running handlers (a Test fire) finish, then carry the state over.
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
		state := r.state
		size, err := BoundState(&state)
		if err == nil {
			return workflow.NewContinueAsNewError(ctx, RegistryWorkflowName, RegistryInput{Workspace: r.workspace, State: &state})
		}
		workflow.GetLogger(ctx).Error("registry state above its limit: shrink or delete webhooks", "workspace", r.workspace, "bytes", size, "error", err)
		if size <= registryCarryLimit {
			return workflow.NewContinueAsNewError(ctx, RegistryWorkflowName, RegistryInput{Workspace: r.workspace, State: &state})
		}
		// Temporal would refuse it and end the registry: stay in this run
		// (its history has room for thousands more writes) until writes
		// shrink the state.
		tooLargeAt = r.writes
	}
}

func (r *registry) register(ctx workflow.Context) error {
	create := func(ctx workflow.Context, req WriteRequest) (webhook.View, error) {
		now := workflow.Now(ctx).UTC()
		w := webhook.Webhook{ID: req.ID, Workspace: r.workspace, Active: true, CreatedAt: now, UpdatedAt: now}
		w.Apply(req.Config)
		if req.Secret != nil {
			w.SealedSecret, w.SecretHint = req.Secret.Sealed, req.Secret.Hint
		}
		r.state.Webhooks = append(r.state.Webhooks, w)
		return w.View(), nil
	}
	update := func(ctx workflow.Context, req WriteRequest) (webhook.View, error) {
		i, err := r.find(req.ID)
		if err != nil {
			return webhook.View{}, err
		}
		w := &r.state.Webhooks[i]
		moved := endpoint.CanonicalURL(w.URL) != endpoint.CanonicalURL(req.Config.URL)
		w.Apply(req.Config)
		now := workflow.Now(ctx).UTC()
		if req.Secret != nil {
			w.SetSecret(req.Secret.Sealed, req.Secret.Hint, now)
		}
		if moved {
			// The previous secret was sealed for the old URL: it would not
			// open for the new one, so it ends with the move.
			w.PreviousSealedSecret, w.PreviousUntil = "", time.Time{}
		}
		w.UpdatedAt = now
		return w.View(), nil
	}
	setActive := func(ctx workflow.Context, req SetActiveRequest) (webhook.View, error) {
		i, err := r.find(req.ID)
		if err != nil {
			return webhook.View{}, err
		}
		w := &r.state.Webhooks[i]
		if w.Active != req.Active || w.Disabled != nil {
			// Activate re-enables a disabled webhook; Deactivate makes
			// it inactive (a manual state of its own).
			if req.Active {
				// Activated or re-enabled: the failure streak starts
				// again (health and auto-disable ignore older failures).
				now := workflow.Now(ctx).UTC()
				w.EnabledAt = &now
			}
			w.Active, w.Disabled = req.Active, nil
			w.UpdatedAt = workflow.Now(ctx).UTC()
		}
		return w.View(), nil
	}
	disable := func(ctx workflow.Context, req DisableRequest) (webhook.View, error) {
		i, err := r.find(req.ID)
		if err != nil {
			return webhook.View{}, err
		}
		w := &r.state.Webhooks[i]
		if req.FailingSince != nil && w.EnabledAt != nil && w.EnabledAt.After(*req.FailingSince) {
			return w.View(), nil // decided on failures from before a re-enable: not again
		}
		if w.Active && w.Disabled == nil {
			now := workflow.Now(ctx).UTC()
			w.Disabled = &webhook.Disabled{At: now, Reason: req.Reason}
			w.RecoverSince = nil
			if req.FailingSince != nil {
				at := req.FailingSince.UTC()
				w.RecoverSince = &at
			}
			w.UpdatedAt = now
		}
		return w.View(), nil
	}
	remove := func(ctx workflow.Context, req IDRequest) error {
		i, err := r.find(req.ID)
		if err != nil {
			return err
		}
		r.state.Webhooks = slices.Delete(r.state.Webhooks, i, i+1)
		delete(r.state.Tests, req.ID)
		return nil
	}
	dismiss := func(ctx workflow.Context, req IDRequest) error {
		if _, err := r.find(req.ID); err != nil {
			return err
		}
		delete(r.state.Tests, req.ID)
		return nil
	}
	exists := func(ctx workflow.Context, req IDRequest) error { _, err := r.find(req.ID); return err }

	for _, u := range []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateCreate, create, func(ctx workflow.Context, req WriteRequest) error { return r.validateWrite(req, true) }},
		{UpdateUpdate, update, func(ctx workflow.Context, req WriteRequest) error { return r.validateWrite(req, false) }},
		{UpdateSetActive, setActive, func(ctx workflow.Context, req SetActiveRequest) error { _, err := r.find(req.ID); return err }},
		{UpdateDisable, disable, func(ctx workflow.Context, req DisableRequest) error {
			if !webhook.ValidReason(req.Reason) {
				return invalidWebhook("reason", fmt.Sprintf("must be valid UTF-8, 1 to %d bytes JSON-encoded", webhook.MaxDisabledReason))
			}
			_, err := r.find(req.ID)
			return err
		}},
		{UpdateDelete, remove, exists},
		{UpdateTestFire, r.testFire, exists},
		{UpdateDismissTest, dismiss, exists},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, counted(r, u.handler), workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return fmt.Errorf("set update handler %s: %w", u.name, err)
		}
	}

	queries := map[string]any{
		QueryList: func() ([]webhook.View, error) {
			out := make([]webhook.View, len(r.state.Webhooks))
			for i, w := range r.state.Webhooks {
				out[i] = w.View()
			}
			return out, nil
		},
		QueryGet: func(id string) (webhook.View, error) {
			i, err := r.find(id)
			if err != nil {
				return webhook.View{}, err
			}
			return r.state.Webhooks[i].View(), nil
		},
		QueryRoutes: func(ev event.Event) ([]endpoint.Routed, error) {
			var out []endpoint.Routed
			for _, w := range r.state.Webhooks {
				if w.Matches(ev) {
					t := w.Target()
					t.Disabled = w.Disabled != nil
					out = append(out, t)
				}
			}
			return out, nil
		},
		QueryTarget: func(id string) (endpoint.Routed, error) {
			i, err := r.find(id)
			if err != nil {
				return endpoint.Routed{}, err
			}
			return r.state.Webhooks[i].Target(), nil
		},
		QueryTestResult: func(id string) (*TestResult, error) {
			if _, err := r.find(id); err != nil {
				return nil, err
			}
			if t, ok := r.state.Tests[id]; ok {
				return &t, nil
			}
			return nil, nil
		},
	}
	queries[QueryState] = func() (RegistryState, error) { return r.state, nil }
	for _, name := range []string{QueryList, QueryGet, QueryRoutes, QueryTarget, QueryTestResult, QueryState} {
		if err := workflow.SetQueryHandler(ctx, name, queries[name]); err != nil {
			return fmt.Errorf("set query handler %s: %w", name, err)
		}
	}
	return nil
}

// counted wraps an update handler so that each accepted update counts
// towards registryWriteLimit.
func counted(r *registry, h any) any {
	switch f := h.(type) {
	case func(workflow.Context, WriteRequest) (webhook.View, error):
		return func(ctx workflow.Context, req WriteRequest) (webhook.View, error) { r.writes++; return f(ctx, req) }
	case func(workflow.Context, SetActiveRequest) (webhook.View, error):
		return func(ctx workflow.Context, req SetActiveRequest) (webhook.View, error) { r.writes++; return f(ctx, req) }
	case func(workflow.Context, DisableRequest) (webhook.View, error):
		return func(ctx workflow.Context, req DisableRequest) (webhook.View, error) { r.writes++; return f(ctx, req) }
	case func(workflow.Context, IDRequest) error:
		return func(ctx workflow.Context, req IDRequest) error { r.writes++; return f(ctx, req) }
	case func(workflow.Context, IDRequest) (TestResult, error):
		return func(ctx workflow.Context, req IDRequest) (TestResult, error) { r.writes++; return f(ctx, req) }
	}
	panic(fmt.Sprintf("registry: unexpected update handler type %T", h))
}

// testFire sends one sample delivery to a webhook at once (one attempt, no
// retries, the same headers and signature as a real delivery), keeps the
// result until it is dismissed or replaced, and returns it.
func (r *registry) testFire(ctx workflow.Context, req IDRequest) (TestResult, error) {
	i, err := r.find(req.ID)
	if err != nil {
		return TestResult{}, err
	}
	w := r.state.Webhooks[i]
	now := workflow.Now(ctx).UTC()
	eventID := "test-" + workflow.GetCurrentUpdateInfo(ctx).ID
	ev := webhook.Sample(w, eventID, now)
	res := TestResult{WebhookID: w.ID, EventID: eventID, FiredAt: now}
	body, err := payload.Build(ev, w.Fields)
	if err != nil {
		res.Error = fmt.Sprintf("build the sample payload: %v", err)
		return r.keepTest(res), nil
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: delivery.AttemptTimeout + 10*time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	// Version 1: the attempt runs on the Test fire queue (its own pollers
	// and slots, behind nobody's backlog) and must start within
	// testFireStartTimeout, so the answer comes before the API's deadline.
	if workflow.GetVersion(ctx, versionTestFireQueue, workflow.DefaultVersion, 1) >= 1 {
		opts.TaskQueue = TestFireQueue(workflow.GetInfo(ctx).TaskQueueName)
		opts.ScheduleToStartTimeout = testFireStartTimeout
	}
	actx := workflow.WithActivityOptions(ctx, opts)
	var att delivery.Attempt
	err = workflow.ExecuteActivity(actx, a.TestFire, activities.DeliverInput{
		DeliveryID:           DeliveryID(eventID, w.ID),
		EventID:              eventID,
		EventType:            string(ev.Type),
		Workspace:            w.Workspace,
		WebhookID:            w.ID,
		URL:                  w.URL,
		SealedSecret:         w.SealedSecret,
		PreviousSealedSecret: w.PreviousSealedSecret,
		PreviousUntil:        w.PreviousUntil,
		Bound:                true,
		NoSecretHeader:       w.NoSecretHeader,
		Body:                 body,
	}).Get(ctx, &att)
	if err != nil {
		// The root cause only: the activity error's text names worker hosts.
		res.Error = "test fire failed: " + rootMessage(err)
	} else {
		res.StatusCode, res.DurationMS, res.Body = att.StatusCode, att.DurationMS, att.ResponseBody
		// State only (no command depends on it: the state's size decides
		// evictions of test results, never a continue-as-new), so histories
		// recorded before replay unchanged.
		res.ResponseHeaders = att.ResponseHeaders
		res.BodyTruncated = len([]rune(att.ResponseBody)) > TestBodyPreview
		res.ErrorClass, res.Succeeded = string(att.Class), att.Succeeded()
		if !att.Succeeded() {
			res.Error = att.Error
		}
	}
	if _, err := r.find(w.ID); err != nil { // deleted while it fired: keep nothing
		return boundTest(res), nil
	}
	return r.keepTest(res), nil
}

// Test fire runs its activity on a queue of its own (TestFireQueue); the
// attempt must start within testFireStartTimeout: with the 15 s attempt,
// the answer comes before the API's 30 s deadline.
const (
	TestFireActivity     = "TestFire"
	versionTestFireQueue = "test-fire-queue"
	testFireStartTimeout = 10 * time.Second
)

// TestFireQueue is the task queue of Test fire attempts for workers
// polling queue.
func TestFireQueue(queue string) string { return queue + "-test" }

func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		if to.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
			return fmt.Sprintf("Test fire could not start within %s (no worker free to make it); try again", testFireStartTimeout)
		}
		return "the attempt timed out"
	}
	return "the attempt could not be made"
}
