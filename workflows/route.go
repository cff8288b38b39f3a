package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// StatusNoMatch is the outcome (EventResult.NoMatch, SearchStatus) of an
// event that the workflow routed itself and that matched no active webhook
// of its workspace (or whose workspace has no registry): nothing was sent.
const StatusNoMatch = "no_match"

// Statuses of an event the workflow routes itself (SearchStatus), from
// routeVisible on: StatusRouting while it asks the registry, and
// StatusRoutingFailed when routing failed for good. The workflow then fails
// with ErrTypeRoutingFailed and the reason; nothing was sent. An operator
// re-routes it by resetting the workflow (see the README: publishing the
// same event ID again is a duplicate).
const (
	StatusRouting       = "routing"
	StatusRoutingFailed = "routing_failed"
)

// ErrTypeRoutingFailed is the failure type of an event workflow whose
// routing failed (from routeVisible on).
const ErrTypeRoutingFailed = "RoutingFailed"

// QueryRouted answers the routed targets of an event (sealed secrets
// included, as in the input of an event the publisher routed): for an event
// the workflow routed itself they are not in its input, and a redelivery
// needs the original field selection.
const QueryRouted = "routed"

// versionRouteInWorkflow is the workflow.GetVersion change ID of routing
// inside the workflow. Before it, an event started with neither targets
// nor routed targets completed at once with no delivery; such histories
// replay that way. The version is asked only for such an input, so events
// with targets record no extra marker (their fast path keeps its 7 events).
const versionRouteInWorkflow = "route-in-workflow"

// Versions of versionRouteInWorkflow.
const (
	// routeFirst routes, but records no search attribute before routing
	// and fails without one when routing fails.
	routeFirst workflow.Version = 1
	// routeVisible records the workspace, event type and StatusRouting
	// before routing, and StatusRoutingFailed when it fails; permanent
	// routing errors are not retried.
	routeVisible workflow.Version = 2
	// routeChecksID fails the event (InvalidEvent, nothing recorded or
	// asked) unless its workflow ID is WorkflowID(event.workspace,
	// event.id): a raw start cannot route another workspace's event.
	routeChecksID workflow.Version = 3
	// routeVersion is the current version.
	routeVersion = routeChecksID
)

// Routing bounds. The local activity holds its workflow task's slot while
// the registry answers (its query needs a workflow task slot of a worker
// too), so it gets a short bound; when it fails, a regular activity, which
// holds no slot, asks again with retries for up to routeRetryFor, after
// which the workflow fails with the reason (never a silent success).
var (
	routeLocalTimeout = 5 * time.Second
	routeRetryFor     = time.Hour
)

// needsRouting reports whether in names no target at all: a start by a raw
// client that follows the polyglot contract with only the event. The
// publisher always routes before it starts, and a continued run carries
// the routed targets of the first.
func needsRouting(in EventInput) bool {
	return len(in.Targets) == 0 && len(in.Routed) == 0 && in.Continued == nil && len(in.carried) == 0
}

// route asks the workspace's registry, through RouteEvent, for the webhooks
// the event matches now. ok is false for histories recorded before routing
// in the workflow (nothing is asked; the event has no delivery, as then).
func route(ctx workflow.Context, in EventInput) (routed []endpoint.Routed, ok bool, err error) {
	v := workflow.GetVersion(ctx, versionRouteInWorkflow, workflow.DefaultVersion, routeVersion)
	if v == workflow.DefaultVersion {
		return nil, false, nil
	}
	if v >= routeChecksID {
		if err := checkWorkflowID(ctx, in.Event); err != nil {
			return nil, true, err
		}
	}
	if v >= routeVisible {
		// The execution log and the Web UI find the event from now on,
		// whatever routing answers.
		if err := workflow.UpsertTypedSearchAttributes(ctx, searchUpdates(in, StatusRouting)...); err != nil {
			workflow.GetLogger(ctx).Warn("record the event in search attributes before routing", "error", err)
		}
	}
	routed, err = routeByActivity(ctx, in, v)
	if err == nil {
		return routed, true, nil
	}
	err = fmt.Errorf("route event %s of workspace %s to its webhooks: %w", in.Event.ID, in.Event.Workspace, err)
	if v < routeVisible {
		return nil, true, err
	}
	if uerr := workflow.UpsertTypedSearchAttributes(ctx, SearchStatus.ValueSet(StatusRoutingFailed)); uerr != nil {
		workflow.GetLogger(ctx).Warn("record the routing failure in search attributes", "error", uerr)
	}
	return nil, true, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeRoutingFailed, nil)
}

// checkWorkflowID fails an event routed in its workflow unless the
// workflow's ID is exactly WorkflowID(ev.Workspace, ev.ID): the ID is the
// workspace's claim on the event ID, and routing reads ev.Workspace's
// webhooks.
func checkWorkflowID(ctx workflow.Context, ev event.Event) error {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	ws, eventID, ok := ParseWorkflowID(id)
	if ok && ws == ev.Workspace && eventID == ev.ID {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("workflow id %q does not match the event: want %q (workspace %q, id %q)",
		id, WorkflowID(ev.Workspace, ev.ID), ev.Workspace, ev.ID), ErrTypeInvalidEvent, nil)
}

// routeByActivity runs RouteEvent: first as a local activity, bounded by
// routeLocalTimeout; when that fails for a reason that may pass, as a
// regular activity retried with backoff for up to routeRetryFor.
func routeByActivity(ctx workflow.Context, in EventInput, v workflow.Version) ([]endpoint.Routed, error) {
	arg := activities.RouteInput{Event: in.Event}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: routeLocalTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	final := []string{activities.ErrTypeNoRouter}
	if v >= routeVisible {
		final = append(final, activities.ErrTypeRoutePermanent)
	}
	var res activities.RouteResult
	lerr := workflow.ExecuteLocalActivity(lctx, a.RouteEvent, arg).Get(ctx, &res)
	if lerr == nil {
		return res.Routed, nil
	}
	var app *temporal.ApplicationError
	if errors.As(lerr, &app) && slices.Contains(final, app.Type()) {
		return nil, lerr
	}
	workflow.GetLogger(ctx).Warn("routing by local activity failed; asking again by activity", "error", lerr)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: routeRetryFor,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: final,
		},
		Priority: temporal.Priority{FairnessKey: FairnessKey(in.Event.Workspace)},
	})
	if err := workflow.ExecuteActivity(actx, a.RouteEvent, arg).Get(ctx, &res); err != nil {
		return nil, err
	}
	return res.Routed, nil
}
