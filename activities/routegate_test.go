package activities

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// At most perWorkspace routing local activities of one workspace run at
// once; other workspaces are not held back; a released slot is free again.
func TestRouteGateCapsPerWorkspace(t *testing.T) {
	g := newRouteGate(2, 0)
	var releases []func(bool)
	for i := range 2 {
		rel, why, ok := g.acquire("acme")
		if !ok {
			t.Fatalf("acquire %d of acme: refused (%s), want a slot", i+1, why)
		}
		releases = append(releases, rel)
	}
	if _, _, ok := g.acquire("acme"); ok {
		t.Fatal("acquire 3 of acme: got a slot, want refused (cap 2)")
	}
	if rel, why, ok := g.acquire("globex"); !ok {
		t.Fatalf("acquire of globex: refused (%s), want a slot", why)
	} else {
		rel(false)
	}
	releases[0](false)
	releases[0](false) // a second release frees nothing more
	if _, _, ok := g.acquire("acme"); !ok {
		t.Fatal("acquire after a release: refused, want a slot")
	}
	if _, _, ok := g.acquire("acme"); ok {
		t.Fatal("acquire 3 after one release and a double release: got a slot, want refused")
	}
}

// After a routing finds the registry unavailable, the workspace's next
// routings skip the local activity for unavailableFor.
func TestRouteGateRemembersUnavailable(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newRouteGate(2, 2*time.Second)
	g.now = func() time.Time { return now }
	rel, _, _ := g.acquire("acme")
	rel(true)
	if _, _, ok := g.acquire("acme"); ok {
		t.Fatal("acquire right after unavailable: got a slot, want refused")
	}
	if _, why, ok := g.acquire("globex"); !ok {
		t.Fatalf("acquire of another workspace: refused (%s), want a slot", why)
	}
	now = now.Add(2 * time.Second)
	if _, why, ok := g.acquire("acme"); !ok {
		t.Fatalf("acquire 2 s later: refused (%s), want a slot", why)
	}
}

// blockingRouter holds every Routes call until release is closed.
type blockingRouter struct {
	mu      sync.Mutex
	calls   int
	started chan struct{}
	release chan struct{}
	err     error
}

func (b *blockingRouter) Routes(ctx context.Context, _ event.Event) ([]endpoint.Routed, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	if b.started != nil {
		b.started <- struct{}{}
	}
	if b.release != nil {
		<-b.release
	}
	return []endpoint.Routed{}, b.err
}

func routeEnv() *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	return s.NewTestActivityEnvironment()
}

// RouteEvent run locally beyond the workspace's cap asks nothing and fails
// with ErrTypeRouteBusy (the workflow then routes by the regular
// activity); the regular activity is not capped.
func TestRouteEventLocalCap(t *testing.T) {
	router := &blockingRouter{started: make(chan struct{}, 4), release: make(chan struct{})}
	a := &Activities{Router: router, RouteLocalPerWorkspace: 1}
	in := RouteInput{Event: event.Event{ID: "evt-1", Workspace: "acme"}}
	done := make(chan error, 1)
	go func() {
		env := routeEnv()
		env.RegisterActivity(a)
		_, err := env.ExecuteLocalActivity(a.RouteEvent, in)
		done <- err
	}()
	<-router.started // the first local routing holds acme's one slot

	env := routeEnv()
	env.RegisterActivity(a)
	_, err := env.ExecuteLocalActivity(a.RouteEvent, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrTypeRouteBusy {
		t.Fatalf("second local routing of acme: got %v, want a %s error", err, ErrTypeRouteBusy)
	}
	router.mu.Lock()
	calls := router.calls
	router.mu.Unlock()
	if calls != 1 {
		t.Fatalf("router calls: got %d, want 1 (the refused local routing asks nothing)", calls)
	}

	other := RouteInput{Event: event.Event{ID: "evt-2", Workspace: "globex"}}
	go func() { <-router.started }()
	close(router.release)
	if _, err := routeEnv().ExecuteLocalActivity(a.RouteEvent, other); err != nil {
		t.Errorf("local routing of another workspace: got %v, want none", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first local routing: %v", err)
	}
}

// The regular activity runs whatever the local cap.
func TestRouteEventRegularActivityNotCapped(t *testing.T) {
	router := &blockingRouter{}
	a := &Activities{Router: router, RouteLocalPerWorkspace: 1}
	rel, _, _ := a.routeGate().acquire("acme") // acme's one local slot is taken
	defer rel(false)
	env := routeEnv()
	env.RegisterActivity(a)
	if _, err := env.ExecuteActivity(a.RouteEvent, RouteInput{Event: event.Event{ID: "evt-1", Workspace: "acme"}}); err != nil {
		t.Fatalf("regular routing: got %v, want none", err)
	}
	if router.calls != 1 {
		t.Errorf("router calls: got %d, want 1", router.calls)
	}
}

// A routing local activity that finds the registry unavailable makes the
// workspace's next routings skip the local activity for a while; a
// permanent error does not.
func TestRouteEventUnavailableSkipsLocal(t *testing.T) {
	for _, tt := range []struct {
		name     string
		err      error
		wantBusy bool
	}{
		{"unavailable", errors.New("registry unavailable"), true},
		{"permanent", ErrRoutePermanent, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			router := &blockingRouter{err: tt.err}
			a := &Activities{Router: router, RouteUnavailableFor: time.Minute}
			in := RouteInput{Event: event.Event{ID: "evt-1", Workspace: "acme"}}
			if _, err := routeEnv().ExecuteLocalActivity(a.RouteEvent, in); err == nil {
				t.Fatal("first routing: got no error, want the router's")
			}
			_, err := routeEnv().ExecuteLocalActivity(a.RouteEvent, in)
			var app *temporal.ApplicationError
			busy := errors.As(err, &app) && app.Type() == ErrTypeRouteBusy
			if busy != tt.wantBusy {
				t.Errorf("second routing: got %v, want busy=%v", err, tt.wantBusy)
			}
			if want := map[bool]int{true: 1, false: 2}[tt.wantBusy]; router.calls != want {
				t.Errorf("router calls: got %d, want %d", router.calls, want)
			}
		})
	}
}
