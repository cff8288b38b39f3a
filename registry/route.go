package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/workflows"
)

// ErrUnavailable means the registry did not answer now (it has ended and
// was not recovered, or the query failed); retrying may succeed once it is
// recovered (by the worker's sweep, any API read or write of the
// workspace, or `starter webhooks recover`).
var ErrUnavailable = errors.New("registry unavailable")

// FailFast is the router of the event workflow's RouteEvent: like Routes,
// but it never recovers an ended registry (a recovery's state query may
// wait up to 20 s, and routing runs as a local activity that holds a
// workflow-task slot): a registry that ended by accident is
// ErrUnavailable at once, one ended on purpose routes nothing.
type FailFast struct{ c *Client }

// FailFast returns the client's fail-fast router.
func (r *Client) FailFast() FailFast { return FailFast{c: r} }

// Routes returns the active webhooks ev matches, as Client.Routes, but
// without recovering an ended registry.
func (f FailFast) Routes(ctx context.Context, ev event.Event) ([]endpoint.Routed, error) {
	r := f.c
	if err := ValidateWorkspace(ev.Workspace); err != nil {
		return nil, fmt.Errorf("%w: %w", activities.ErrRoutePermanent, err)
	}
	resp, err := r.c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID:           workflows.RegistryWorkflowID(ev.Workspace),
		QueryType:            workflows.QueryRoutes,
		Args:                 []any{ev},
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	if err != nil {
		err = translate(err, "query "+workflows.QueryRoutes)
		if errors.Is(err, ErrNotFound) {
			return nil, nil // no registry: no webhook gets the event
		}
		return nil, fmt.Errorf("%w: workspace %s: %w", ErrUnavailable, ev.Workspace, err)
	}
	if resp.QueryRejected != nil {
		runID, status, _, err := r.endedRun(ctx, ev.Workspace)
		if err != nil {
			return nil, fmt.Errorf("%w: workspace %s: %w", ErrUnavailable, ev.Workspace, err)
		}
		why, err := r.endedOnPurpose(ctx, ev.Workspace, runID, status)
		if err != nil {
			return nil, fmt.Errorf("%w: workspace %s: %w", ErrUnavailable, ev.Workspace, err)
		}
		if why != "" {
			return nil, nil // a registry ended on purpose routes nothing
		}
		return nil, fmt.Errorf("%w: the registry of workspace %s has ended (%s, run %s) and routing does not recover it; the worker's sweep or `starter webhooks recover --workspace %s` brings it back",
			ErrUnavailable, ev.Workspace, strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_")), runID, ev.Workspace)
	}
	var out []endpoint.Routed
	if err := resp.QueryResult.Get(&out); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", activities.ErrRoutePermanent, workflows.QueryRoutes, err)
	}
	return out, nil
}
