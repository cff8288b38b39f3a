package activities

import (
	"sync"
	"time"
)

// routeGate bounds, per worker process and per workspace, the routing
// local activities (RouteEvent run locally, each holding a workflow-task
// slot while the registry answers): at most perWorkspace of one workspace
// run at once, and for unavailableFor after one of them found the
// registry unavailable, none of that workspace runs locally. A refused
// local routing asks nothing: the workflow routes by the regular activity,
// which holds no workflow-task slot and retries with backoff.
type routeGate struct {
	perWorkspace   int
	unavailableFor time.Duration
	now            func() time.Time

	mu      sync.Mutex
	running map[string]int
	downTil map[string]time.Time
}

func newRouteGate(perWorkspace int, unavailableFor time.Duration) *routeGate {
	return &routeGate{perWorkspace: perWorkspace, unavailableFor: unavailableFor, now: time.Now,
		running: map[string]int{}, downTil: map[string]time.Time{}}
}

// acquire takes a slot for a local routing of workspace ws; ok is false
// when the workspace has perWorkspace running or its registry was found
// unavailable less than unavailableFor ago (why says which). release
// returns the slot; unavailable marks the workspace's registry so.
func (g *routeGate) acquire(ws string) (release func(unavailable bool), why string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until, down := g.downTil[ws]; down {
		if g.now().Before(until) {
			return nil, "its registry was unavailable moments ago", false
		}
		delete(g.downTil, ws)
	}
	if g.running[ws] >= g.perWorkspace {
		return nil, "the workspace has as many routings in flight as local activities allow", false
	}
	g.running[ws]++
	var once sync.Once
	return func(unavailable bool) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.running[ws]--; g.running[ws] <= 0 {
				delete(g.running, ws)
			}
			if unavailable && g.unavailableFor > 0 {
				g.downTil[ws] = g.now().Add(g.unavailableFor)
			}
		})
	}, "", true
}
