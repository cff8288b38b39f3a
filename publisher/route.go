package publisher

import (
	"context"
	"errors"
	"time"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// DefaultRouteWait is Options.RouteWait's default. Routing is a registry
// query (milliseconds when the registry's worker is well); a query that
// takes seconds means that worker is overloaded, and the caller should not
// wait on it, nor get an error for an event that the workflow can route.
const DefaultRouteWait = 2 * time.Second

// errRouteLater means the registry did not route the event now, for a
// reason that may pass: the workflow is to route it.
var errRouteLater = errors.New("route in the workflow")

// route asks the registry for ev's targets, for at most p.routeWait. A
// timeout or a failure that may pass (the registry unavailable, a server
// error) is errRouteLater, unless the caller's own context has ended or
// RouteWait is negative; a permanent failure is returned as it is.
func (p *Publisher) route(ctx context.Context, ev event.Event) ([]endpoint.Routed, error) {
	if p.routeWait < 0 {
		return p.router.Routes(ctx, ev)
	}
	rctx, cancel := context.WithTimeout(ctx, p.routeWait)
	defer cancel()
	targets, err := p.router.Routes(rctx, ev)
	switch {
	case err == nil || ctx.Err() != nil:
		return targets, err
	case rctx.Err() != nil:
		// Out of time, whatever the error says: a registry recovery cut
		// short by the wait proves nothing about the registry.
		return nil, errRouteLater
	case errors.Is(err, activities.ErrRoutePermanent) || errors.Is(err, event.ErrInvalid) || errors.Is(err, endpoint.ErrInvalid):
		return targets, err
	}
	return nil, errRouteLater
}
