package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// Router finds the active webhooks an event matches, with their secrets
// still sealed (registry.Client, the same router the publisher uses).
type Router interface {
	Routes(ctx context.Context, ev event.Event) ([]endpoint.Routed, error)
}

// ErrTypeNoRouter means this worker cannot route events: it was built
// without a Router. Not retried: the event's workflow fails with the reason.
const ErrTypeNoRouter = "WebhookRoutingUnavailable"

// ErrTypeRoutePermanent means routing failed for a reason that retrying
// does not cure (a Router error wrapping ErrRoutePermanent, such as a
// registry that cannot be recovered automatically): not retried.
const ErrTypeRoutePermanent = "WebhookRoutingFailedPermanently"

// ErrRoutePermanent marks a Router error that retrying does not cure.
var ErrRoutePermanent = errors.New("routing cannot succeed by retrying")

// ErrTypeRouteBusy means a routing local activity did not run (see
// routeGate): the workflow asks again by the regular activity.
const ErrTypeRouteBusy = "WebhookRoutingBusy"

// RouteInput is the event to route.
type RouteInput struct {
	Event event.Event `json:"event"`
}

// RouteResult is the routed targets: the webhooks the event matched, their
// secrets sealed for the event's workspace, webhook and URL (opened only
// when an attempt is signed). None when nothing matched, or when the
// workspace has no registry.
type RouteResult struct {
	Routed []endpoint.Routed `json:"routed"`
}

// RouteEvent asks the workspace's registry, as it stands now, which
// webhooks the event matches. EventWorkflow runs it for an event started
// without targets (a raw client that follows the polyglot contract); its
// result is recorded in history, so a replay routes the same way.
func (a *Activities) RouteEvent(ctx context.Context, in RouteInput) (RouteResult, error) {
	if a.Router == nil {
		return RouteResult{}, temporal.NewNonRetryableApplicationError("this worker has no webhook registry to route events started without targets", ErrTypeNoRouter, nil)
	}
	if activity.IsActivity(ctx) && activity.GetInfo(ctx).IsLocalActivity {
		release, why, ok := a.routeGate().acquire(in.Event.Workspace)
		if !ok {
			return RouteResult{}, temporal.NewApplicationError(fmt.Sprintf("route event %s of workspace %s locally: %s; routing by activity", in.Event.ID, in.Event.Workspace, why), ErrTypeRouteBusy)
		}
		unavailable := true
		defer func() { release(unavailable) }()
		res, err := a.routeEvent(ctx, in)
		var app *temporal.ApplicationError
		unavailable = err != nil && !(errors.As(err, &app) && app.Type() == ErrTypeRoutePermanent)
		return res, err
	}
	return a.routeEvent(ctx, in)
}

// routeGate returns the gate of the routing local activities.
func (a *Activities) routeGate() *routeGate {
	a.routesOnce.Do(func() {
		a.routes = newRouteGate(orDefault(a.RouteLocalPerWorkspace, 2), orDefault(a.RouteUnavailableFor, 2*time.Second))
	})
	return a.routes
}

func (a *Activities) routeEvent(ctx context.Context, in RouteInput) (RouteResult, error) {
	routed, err := a.Router.Routes(ctx, in.Event)
	if err != nil {
		if errors.Is(err, ErrRoutePermanent) {
			return RouteResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("route event %s of workspace %s: %v", in.Event.ID, in.Event.Workspace, err), ErrTypeRoutePermanent, nil)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return RouteResult{}, fmt.Errorf("route event %s of workspace %s: the registry did not answer in time: %w", in.Event.ID, in.Event.Workspace, err)
		}
		return RouteResult{}, fmt.Errorf("route event %s of workspace %s: %w", in.Event.ID, in.Event.Workspace, err)
	}
	if routed == nil {
		routed = []endpoint.Routed{}
	}
	return RouteResult{Routed: routed}, nil
}
