package publisher

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// routerFunc is a Router made of a function.
type routerFunc func(ctx context.Context, ev event.Event) ([]endpoint.Routed, error)

func (f routerFunc) Routes(ctx context.Context, ev event.Event) ([]endpoint.Routed, error) {
	return f(ctx, ev)
}

// Routing at publish waits RouteWait at most. What the registry's answer
// means for the publish: routed now, left to the workflow (a timeout, a
// failure that may pass, or any error once the wait ran out, even one
// that claims to be permanent: a registry recovery cut short by the wait
// proves nothing), or failed now (a permanent failure in time, or the
// caller's own context ending).
func TestRouteDecidesBetweenNowAndTheWorkflow(t *testing.T) {
	const wait = 50 * time.Millisecond
	routed := []endpoint.Routed{{ID: "wh1", URL: "https://example.com"}}
	afterDeadline := func(err error) Router {
		return routerFunc(func(ctx context.Context, _ event.Event) ([]endpoint.Routed, error) {
			<-ctx.Done()
			return nil, err
		})
	}
	for _, tt := range []struct {
		name      string
		router    Router
		cancelled bool
		wantLater bool
		wantErr   error
		wantN     int
	}{
		{name: "answers in time", router: routerFunc(func(context.Context, event.Event) ([]endpoint.Routed, error) { return routed, nil }), wantN: 1},
		{name: "no answer in time", router: afterDeadline(context.DeadlineExceeded), wantLater: true},
		{name: "a recovery cut short reads as permanent", router: afterDeadline(fmt.Errorf("%w: state query: %w", activities.ErrRoutePermanent, context.DeadlineExceeded)), wantLater: true},
		{name: "unavailable now", router: routerFunc(func(context.Context, event.Event) ([]endpoint.Routed, error) { return nil, errors.New("unavailable") }), wantLater: true},
		{name: "permanent in time", router: routerFunc(func(context.Context, event.Event) ([]endpoint.Routed, error) {
			return nil, activities.ErrRoutePermanent
		}), wantErr: activities.ErrRoutePermanent},
		{name: "the caller gave up", router: afterDeadline(context.Canceled), cancelled: true, wantErr: context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &Publisher{router: tt.router, routeWait: wait}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			got, err := p.route(ctx, event.Event{ID: "e1", Workspace: "acme"})
			switch {
			case tt.wantLater:
				if !errors.Is(err, errRouteLater) {
					t.Fatalf("got %v, %v, want the workflow to route", got, err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || errors.Is(err, errRouteLater) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil || len(got) != tt.wantN {
					t.Fatalf("got %d targets, %v, want %d", len(got), err, tt.wantN)
				}
			}
		})
	}
}

// Show's status query is cut at ShowQueryWait: the server answers
// DeadlineExceeded a moment before the caller's deadline passes, and that
// too means "busy", not a failure of Show.
func TestTimedOutReadsTheServersDeadline(t *testing.T) {
	live, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	past, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	for _, tt := range []struct {
		name string
		err  error
		ctx  context.Context
		want bool
	}{
		{"the server's deadline before ours", serviceerror.NewDeadlineExceeded("query timed out before a worker could process it"), live, true},
		{"our deadline passed", errors.New("rpc error"), past, true},
		{"a context error", fmt.Errorf("query: %w", context.DeadlineExceeded), live, true},
		{"another error", serviceerror.NewNotFound("gone"), live, false},
	} {
		if got := timedOut(tt.err, tt.ctx); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
