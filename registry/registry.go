// Package registry is the Go API over the webhook registry workflows:
// create, read, list, update, activate, deactivate and delete webhooks,
// Test fire them, and route events to the webhooks they match. Secrets are
// sealed here, in the client, before they reach Temporal.
package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// Errors a caller can tell apart with errors.Is. Validation errors wrap
// webhook.ErrInvalid (or event.ErrInvalid for a bad workspace) and carry a
// *webhook.FieldError.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Sealer seals secrets bound to their workspace, webhook and canonical
// URL, and re-seals them with the newest key (codec.Keyring).
type Sealer interface {
	Seal(secret, workspace, webhookID, url string) (string, error)
	Reseal(sealed, workspace, webhookID, url string) (string, bool, error)
	NeedsReseal(sealed string) bool
}

// HostChecker refuses URL hosts that are literal internal addresses
// (netguard.Guard).
type HostChecker interface {
	CheckHost(host string) error
}

// Options configure a Client.
type Options struct {
	// Sealer seals secrets before they leave the process (required to set
	// secrets).
	Sealer Sealer
	// TaskQueue "" means workflows.TaskQueue.
	TaskQueue string
	// Hosts, when set, refuses webhook URLs aimed at blocked addresses.
	Hosts HostChecker
	// DataConverter is the client's (codec.DataConverter); Recover with
	// FromInput decodes a run's history with it. Nil means Temporal's
	// default.
	DataConverter converter.DataConverter
}

// Client manages webhooks.
type Client struct {
	c    client.Client
	opts Options
}

// New returns a registry client.
func New(c client.Client, opts Options) *Client {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	return &Client{c: c, opts: opts}
}

// ValidateWorkspace checks a workspace name.
func ValidateWorkspace(ws string) error { return event.ValidateWorkspace(ws) }

// Create validates spec, seals its secret and adds the webhook (active
// unless spec says otherwise) to the workspace, starting the workspace's
// registry if it has none.
func (r *Client) Create(ctx context.Context, ws string, spec webhook.Spec) (webhook.View, error) {
	req, err := r.writeRequest(ws, "wh_"+strings.ReplaceAll(uuid.NewString(), "-", "")[:16], spec)
	if err != nil {
		return webhook.View{}, err
	}
	start := r.c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       workflows.RegistryWorkflowID(ws),
		TaskQueue:                r.opts.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A registry never ends on its own (it continues as new). If one was
		// ended from outside, refuse to start an empty one in its place:
		// the error leads to Recover, which restarts it with its state.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// The registry's workflow tasks (writes, Test fire, routing
		// queries) are served fairly between workspaces, like events'.
		Priority: temporal.Priority{FairnessKey: workflows.FairnessKey(ws)},
	}, workflows.RegistryWorkflowName, workflows.RegistryInput{Workspace: ws})
	h, err := r.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateCreate,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var v webhook.View
	if err == nil {
		err = h.Get(ctx, &v)
	}
	if err != nil && refusedByEnded(err) {
		// The registry has ended: bring it back with its state, then
		// write to the new run.
		if again, rerr := r.recoverIfEnded(ctx, ws); rerr != nil {
			return webhook.View{}, rerr
		} else if again {
			return v, r.update(ctx, ws, workflows.UpdateCreate, req, &v)
		}
	}
	if err != nil {
		return webhook.View{}, translate(err, "create webhook")
	}
	return v, nil
}

// refusedByEnded reports whether err may come from a registry that has
// ended (not from the registry refusing the write): a start refused by the
// ID reuse policy, or an update to a closed run.
func refusedByEnded(err error) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return false
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var nf *serviceerror.NotFound
	var multi *serviceerror.MultiOperationExecution
	return errors.As(err, &started) || errors.As(err, &nf) || errors.As(err, &multi)
}

// Update replaces a webhook's configuration. A nil spec.Secret keeps the
// secret, "" removes it, any other value replaces it (rotation). Keeping
// the secret is refused (field "secret") when the update changes the URL
// (compared canonically) or turns secret_header on: the secret is sealed
// for its URL, and whoever may edit a webhook must not be able to send its
// secret somewhere new without knowing it (the registry enforces this).
func (r *Client) Update(ctx context.Context, ws, id string, spec webhook.Spec) (webhook.View, error) {
	req, err := r.writeRequest(ws, id, spec)
	if err != nil {
		return webhook.View{}, err
	}
	var v webhook.View
	return v, r.update(ctx, ws, workflows.UpdateUpdate, req, &v)
}

// SetActive activates or deactivates a webhook.
func (r *Client) SetActive(ctx context.Context, ws, id string, active bool) (webhook.View, error) {
	var v webhook.View
	return v, r.update(ctx, ws, workflows.UpdateSetActive, workflows.SetActiveRequest{ID: id, Active: active}, &v)
}

// Disable disables a webhook whose endpoint kept failing since
// failingSince (zero: unknown), with the reason. An inactive or already
// disabled webhook stays as it is, and so does one re-enabled after
// failingSince (the streak was read before the re-enable).
func (r *Client) Disable(ctx context.Context, ws, id, reason string, failingSince time.Time) (webhook.View, error) {
	if err := ValidateWorkspace(ws); err != nil {
		return webhook.View{}, err
	}
	req := workflows.DisableRequest{ID: id, Reason: reason}
	if !failingSince.IsZero() {
		at := failingSince.UTC()
		req.FailingSince = &at
	}
	var v webhook.View
	err := r.update(ctx, ws, workflows.UpdateDisable, req, &v)
	return v, err
}

// Delete removes a webhook and its last test result.
func (r *Client) Delete(ctx context.Context, ws, id string) error {
	return r.update(ctx, ws, workflows.UpdateDelete, workflows.IDRequest{ID: id}, nil)
}

// TestFire sends a sample payload to the webhook now and returns the
// outcome; the result stays readable until dismissed or replaced. A
// secret still sealed in an old format (v1, v2) is not upgraded here: the
// result says to re-seal it (`starter keys reseal`, the operator's step).
func (r *Client) TestFire(ctx context.Context, ws, id string) (workflows.TestResult, error) {
	var res workflows.TestResult
	return res, r.update(ctx, ws, workflows.UpdateTestFire, workflows.IDRequest{ID: id}, &res)
}

// DismissTest forgets the webhook's last test result.
func (r *Client) DismissTest(ctx context.Context, ws, id string) error {
	return r.update(ctx, ws, workflows.UpdateDismissTest, workflows.IDRequest{ID: id}, nil)
}

// List returns the workspace's webhooks, oldest first (none when the
// workspace has no registry yet).
func (r *Client) List(ctx context.Context, ws string) ([]webhook.View, error) {
	if err := ValidateWorkspace(ws); err != nil {
		return nil, err
	}
	var out []webhook.View
	if err := r.query(ctx, ws, workflows.QueryList, &out); err != nil {
		if errors.Is(err, ErrNotFound) {
			return []webhook.View{}, nil
		}
		return nil, err
	}
	if out == nil {
		out = []webhook.View{}
	}
	return out, nil
}

// Get returns one webhook.
func (r *Client) Get(ctx context.Context, ws, id string) (webhook.View, error) {
	list, err := r.List(ctx, ws)
	if err != nil {
		return webhook.View{}, err
	}
	for _, v := range list {
		if v.ID == id {
			return v, nil
		}
	}
	return webhook.View{}, fmt.Errorf("%w: webhook %s in workspace %s", ErrNotFound, id, ws)
}

// TestResult returns the webhook's last test result, or nil.
func (r *Client) TestResult(ctx context.Context, ws, id string) (*workflows.TestResult, error) {
	if _, err := r.Get(ctx, ws, id); err != nil {
		return nil, err
	}
	var res *workflows.TestResult
	if err := r.query(ctx, ws, workflows.QueryTestResult, &res, id); err != nil {
		return nil, err
	}
	return res, nil
}

// Routes returns the targets of the active webhooks that ev matches, with
// their secrets sealed. A workspace without a registry matches nothing. A
// secret still sealed in an old format (v1, v2) is routed as it is, and
// its delivery fails with the reason telling the operator to re-seal
// (`starter keys reseal`): nothing upgrades seals at publish time.
func (r *Client) Routes(ctx context.Context, ev event.Event) ([]endpoint.Routed, error) {
	var out []endpoint.Routed
	if err := r.query(ctx, ev.Workspace, workflows.QueryRoutes, &out, ev); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrRetired) {
			return nil, nil // no registry, or one retired: no webhook gets the event
		}
		if errors.Is(err, ErrUnrecoverable) {
			// Retrying does not bring the registry back: an operator must.
			return nil, fmt.Errorf("%w: %w", activities.ErrRoutePermanent, err)
		}
		return nil, err
	}
	return out, nil
}

// Target returns where a delivery to webhook id goes now (its URL and
// sealed secrets), active or not: a redelivery is signed with the current
// secret and sent to the current URL.
func (r *Client) Target(ctx context.Context, ws, id string) (endpoint.Routed, error) {
	if err := ValidateWorkspace(ws); err != nil {
		return endpoint.Routed{}, err
	}
	var out endpoint.Routed
	if err := r.query(ctx, ws, workflows.QueryTarget, &out, id); err != nil {
		return endpoint.Routed{}, err
	}
	return out, nil
}

// Reseal re-seals every secret of the workspace's webhooks that is not in
// the newest form (a v1 or v2 seal, or a v3 seal under an older key),
// bound to the webhook's URL, with the
// active key, and returns how many webhooks changed. The client opens and
// seals; the registry only swaps sealed values (refusing any that changed
// meanwhile) and then continues as new, so its new run holds nothing
// under the old key. A previous secret whose grace period is over is
// dropped rather than re-sealed.
func (r *Client) Reseal(ctx context.Context, ws string) (int, error) {
	if err := ValidateWorkspace(ws); err != nil {
		return 0, err
	}
	if r.opts.Sealer == nil {
		return 0, errors.New("reseal: this client has no key ring")
	}
	needs := r.opts.Sealer.NeedsReseal
	var stored []workflows.StoredSecret
	if err := r.query(ctx, ws, workflows.QuerySecrets, &stored); err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	now := time.Now()
	var req workflows.ResealRequest
	for _, s := range stored {
		e := workflows.ResealEntry{ID: s.ID, OldSealed: s.Sealed, Sealed: s.Sealed, OldPreviousSealed: s.PreviousSealed, PreviousSealed: s.PreviousSealed}
		expired := s.PreviousSealed != "" && !now.Before(s.PreviousUntil)
		if !needs(s.Sealed) && !needs(s.PreviousSealed) && !expired {
			continue
		}
		var err error
		url := endpoint.CanonicalURL(s.URL)
		if e.Sealed, _, err = r.opts.Sealer.Reseal(s.Sealed, ws, s.ID, url); err != nil {
			return 0, fmt.Errorf("reseal webhook %s of workspace %s: %w", s.ID, ws, err)
		}
		if expired {
			e.PreviousSealed = ""
		} else if e.PreviousSealed, _, err = r.opts.Sealer.Reseal(s.PreviousSealed, ws, s.ID, url); err != nil {
			return 0, fmt.Errorf("reseal the previous secret of webhook %s of workspace %s: %w", s.ID, ws, err)
		}
		req.Entries = append(req.Entries, e)
	}
	if len(req.Entries) == 0 {
		return 0, nil
	}
	var res workflows.ResealResult
	if err := r.update(ctx, ws, workflows.UpdateReseal, req, &res); err != nil {
		return 0, err
	}
	return res.Resealed, nil
}

// ResealOutcome is what ResealAll did to one workspace's registry.
type ResealOutcome struct {
	Workspace string `json:"workspace"`
	Resealed  int    `json:"resealed"`
	Error     string `json:"error,omitempty"`
}

// ResealAll re-seals the secrets of every running registry of the task
// queue (see Reseal). One registry that fails does not stop the others; the
// error counts the failures, and each outcome carries its own.
func (r *Client) ResealAll(ctx context.Context) ([]ResealOutcome, error) {
	list, err := r.Workspaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ResealOutcome, 0, len(list))
	failed := 0
	for _, ws := range list {
		n, err := r.Reseal(ctx, ws)
		o := ResealOutcome{Workspace: ws, Resealed: n}
		if err != nil {
			failed++
			o.Error = err.Error()
		}
		out = append(out, o)
	}
	if failed > 0 {
		return out, fmt.Errorf("reseal: %d of %d registries failed", failed, len(list))
	}
	return out, nil
}

// Workspaces lists the workspaces that have a running registry on this
// client's task queue (through the namespace's visibility store), for a
// reseal of every registry.
func (r *Client) Workspaces(ctx context.Context) ([]string, error) {
	var out []string
	var token []byte
	for {
		resp, err := r.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'", workflows.RegistryWorkflowName, strings.ReplaceAll(r.opts.TaskQueue, "'", "")),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list registries: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if ws, ok := workflows.RegistryWorkspace(e.GetExecution().GetWorkflowId()); ok {
				out = append(out, ws)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (r *Client) writeRequest(ws, id string, spec webhook.Spec) (workflows.WriteRequest, error) {
	if err := ValidateWorkspace(ws); err != nil {
		return workflows.WriteRequest{}, err
	}
	if err := spec.Config.Validate(); err != nil {
		return workflows.WriteRequest{}, err
	}
	if r.opts.Hosts != nil {
		if err := r.opts.Hosts.CheckHost(endpoint.Host(spec.URL)); err != nil {
			return workflows.WriteRequest{}, fmt.Errorf("%w: %w", webhook.ErrInvalid, &webhook.FieldError{Field: "url", Message: err.Error()})
		}
	}
	req := workflows.WriteRequest{ID: id, Config: spec.Config}
	if spec.Secret != nil {
		if err := webhook.ValidateSecret(*spec.Secret); err != nil {
			return workflows.WriteRequest{}, err
		}
		req.Secret = &workflows.SealedSecret{}
		if *spec.Secret != "" {
			if r.opts.Sealer == nil {
				return workflows.WriteRequest{}, errors.New("seal secret: this client has no key ring")
			}
			sealed, err := r.opts.Sealer.Seal(*spec.Secret, ws, id, endpoint.CanonicalURL(spec.URL))
			if err != nil {
				return workflows.WriteRequest{}, fmt.Errorf("seal secret: %w", err)
			}
			req.Secret = &workflows.SealedSecret{Sealed: sealed, Hint: endpoint.MaskSecret(*spec.Secret)}
		}
	}
	return req, nil
}

func (r *Client) update(ctx context.Context, ws, name string, arg, result any) error {
	if err := ValidateWorkspace(ws); err != nil {
		return err
	}
	send := func() error {
		h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID:   workflows.RegistryWorkflowID(ws),
			UpdateName:   name,
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, result)
		}
		return err
	}
	err := send()
	if err != nil && refusedByEnded(err) {
		if again, rerr := r.recoverIfEnded(ctx, ws); rerr != nil {
			return rerr
		} else if again {
			err = send()
		}
	}
	if err != nil {
		return translate(err, name)
	}
	return nil
}

// query reads the running registry. When it has ended, the registry is
// recovered first; if that fails, the ended run answers (queries work on
// closed runs) and only when it cannot does the read fail.
func (r *Client) query(ctx context.Context, ws, name string, result any, args ...any) error {
	resp, err := r.c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID:           workflows.RegistryWorkflowID(ws),
		QueryType:            name,
		Args:                 args,
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	if err != nil {
		return translate(err, "query "+name)
	}
	if resp.QueryRejected != nil {
		_, rerr := r.Recover(ctx, ws, RecoverOptions{Automatic: true})
		if errors.Is(rerr, ErrRetired) && name == workflows.QueryRoutes {
			return rerr // a registry ended on purpose routes nothing
		}
		v, err := r.c.QueryWorkflow(ctx, workflows.RegistryWorkflowID(ws), "", name, args...)
		if err != nil {
			if rerr != nil {
				return rerr
			}
			return translate(err, "query "+name)
		}
		if err := v.Get(result); err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		return nil
	}
	if err := resp.QueryResult.Get(result); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

// translate turns Temporal errors from the registry into this package's.
func translate(err error, op string) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s: no webhooks in this workspace", ErrNotFound, op)
	}
	var qf *serviceerror.QueryFailed
	if errors.As(err, &qf) && strings.Contains(qf.Message, "not found") {
		return fmt.Errorf("%w: %s", ErrNotFound, qf.Message)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		var field string
		if app.HasDetails() {
			_ = app.Details(&field)
		}
		fe := &webhook.FieldError{Field: field, Message: strings.TrimPrefix(app.Message(), field+": ")}
		switch app.Type() {
		case workflows.ErrTypeNotFound:
			return fmt.Errorf("%w: %s", ErrNotFound, app.Message())
		case workflows.ErrTypeNameTaken:
			return fmt.Errorf("%w: %w", ErrConflict, fe)
		case workflows.ErrTypeInvalidWebhook:
			return fmt.Errorf("%w: %w", webhook.ErrInvalid, fe)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}
