// Package registry is the Go API over the webhook registry workflows:
// create, read, list, update, activate, deactivate and delete webhooks,
// Test fire them, and route events to the webhooks they match. Secrets are
// sealed here, in the client, before they reach Temporal.
package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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

// Sealer seals secrets (codec.Keyring).
type Sealer interface {
	Seal(secret string) (string, error)
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
		// ended by hand, refuse to start an empty one in its place.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
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
	if err != nil {
		return webhook.View{}, translate(err, "create webhook")
	}
	return v, nil
}

// Update replaces a webhook's configuration. A nil spec.Secret keeps the
// secret, "" removes it, any other value replaces it (rotation).
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

// Delete removes a webhook and its last test result.
func (r *Client) Delete(ctx context.Context, ws, id string) error {
	return r.update(ctx, ws, workflows.UpdateDelete, workflows.IDRequest{ID: id}, nil)
}

// TestFire sends a sample payload to the webhook now and returns the
// outcome; the result stays readable until dismissed or replaced.
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
// their secrets sealed. A workspace without a registry matches nothing.
func (r *Client) Routes(ctx context.Context, ev event.Event) ([]endpoint.Target, error) {
	var out []endpoint.Target
	if err := r.query(ctx, ev.Workspace, workflows.QueryRoutes, &out, ev); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return out, nil
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
			sealed, err := r.opts.Sealer.Seal(*spec.Secret)
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
	h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.RegistryWorkflowID(ws),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	if err != nil {
		return translate(err, name)
	}
	return nil
}

func (r *Client) query(ctx context.Context, ws, name string, result any, args ...any) error {
	v, err := r.c.QueryWorkflow(ctx, workflows.RegistryWorkflowID(ws), "", name, args...)
	if err != nil {
		return translate(err, "query "+name)
	}
	if err := v.Get(result); err != nil {
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
