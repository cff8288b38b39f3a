package activities

import (
	"sync"
	"time"

	"github.com/hari-crm/webhooks/delivery"
)

// A local activity holds its workflow task's slot while it runs, so the
// fast first attempt must never run long, nor many at once. localGate
// decides, per worker process, whether a first attempt may run locally:
//
//   - at most perWorkspace local first attempts of one workspace run at
//     once, and at most global in all (well below the worker's workflow-task
//     slots); a workspace that already holds one may take only from the
//     shared part of global (three quarters), the rest is kept for
//     workspaces that hold none, so hanging workspaces never hold them all;
//   - slowness is a target's (one webhook of one workspace), not its
//     workspace's: a target is "slow" while one of its local first attempts
//     has run longer than slowAfter, or for slowFor after an attempt (local
//     or not) took longer than slowAfter or timed out; only a fast attempt
//     of the same target ends it, so a healthy webhook of the workspace
//     cannot clear a hanging one;
//   - a target not known to be fast (no fast attempt in the last slowFor)
//     is probed: at most probeUnknown of its local first attempts run at
//     once, until one comes back fast.
//
// A first attempt the gate refuses makes no attempt: the delivery's
// attempt 1 is made by DeliverWebhook, a regular activity, which holds no
// workflow task. So hanging receivers hold at most global workflow-task
// slots (and workspaces new to the gate always find global/4), for one
// attempt timeout at most, and every other workspace's workflow tasks find
// a slot.
type localGate struct {
	perWorkspace, global int
	slowAfter, slowFor   time.Duration
	now                  func() time.Time

	mu    sync.Mutex
	total int
	ws    map[string]*wsGate
	seq   uint64
}

type wsGate struct {
	// running are the local first attempts in flight, of every target:
	// when each began to send (zero while it waits for a workspace slot).
	running map[uint64]time.Time
	targets map[string]*targetGate
}

// targetGate is what the gate knows of one target (webhook) of a workspace.
type targetGate struct {
	running   map[uint64]time.Time
	slowUntil time.Time
	// fastAt is when an attempt of the target last came back fast.
	fastAt time.Time
}

// probeUnknown is how many local first attempts a target not known to be
// fast may have in flight.
const probeUnknown = 2

// gatePass is one admitted local first attempt.
type gatePass struct {
	g      *localGate
	ws     string
	target string
	s      *wsGate
	t      *targetGate
	id     uint64
	once   sync.Once
}

// sending marks the moment the attempt begins to send: from here on, a
// long run means a slow receiver.
func (p *gatePass) sending() {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	if _, ok := p.s.running[p.id]; ok {
		now := p.g.now()
		p.s.running[p.id] = now
		p.t.running[p.id] = now
	}
}

// leave ends the attempt's admission.
func (p *gatePass) leave() {
	p.once.Do(func() {
		p.g.mu.Lock()
		defer p.g.mu.Unlock()
		delete(p.s.running, p.id)
		delete(p.t.running, p.id)
		p.g.total--
		p.g.tidy(p.ws, p.s)
	})
}

// Reasons a first attempt is not run locally (the metrics' outcome label).
const (
	gateSlow      = "handed_on_slow"
	gateWorkspace = "handed_on_workspace_cap"
	gateWorker    = "handed_on_worker_cap"
)

func newLocalGate(perWorkspace, global int, slowAfter, slowFor time.Duration) *localGate {
	return &localGate{perWorkspace: perWorkspace, global: global, slowAfter: slowAfter, slowFor: slowFor, now: time.Now, ws: map[string]*wsGate{}}
}

// enter admits a local first attempt of target (a webhook) of workspace
// ws; its pass must be left when it ends. When it is refused, reason says
// why.
func (g *localGate) enter(ws, target string) (*gatePass, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s := g.ws[ws]
	var t *targetGate
	if s != nil {
		t = s.targets[target]
	}
	if t != nil {
		if now.Before(t.slowUntil) {
			return nil, gateSlow
		}
		for _, start := range t.running {
			if !start.IsZero() && now.Sub(start) > g.slowAfter {
				return nil, gateSlow
			}
		}
	}
	if s != nil && len(s.running) >= g.perWorkspace {
		return nil, gateWorkspace
	}
	known := t != nil && !t.fastAt.IsZero() && now.Sub(t.fastAt) < g.slowFor
	if !known && t != nil && len(t.running) >= probeUnknown {
		return nil, gateSlow
	}
	if g.total >= g.global || s != nil && len(s.running) > 0 && g.total >= g.shared() {
		return nil, gateWorker
	}
	if s == nil {
		if len(g.ws) >= sweepAt {
			g.sweep()
		}
		s = &wsGate{running: map[uint64]time.Time{}, targets: map[string]*targetGate{}}
		g.ws[ws] = s
	}
	if t == nil {
		t = &targetGate{running: map[uint64]time.Time{}}
		s.targets[target] = t
	}
	g.seq++
	s.running[g.seq] = time.Time{}
	t.running[g.seq] = time.Time{}
	g.total++
	return &gatePass{g: g, ws: ws, target: target, s: s, t: t, id: g.seq}, ""
}

// shared is the part of global that a workspace already holding a local
// first attempt may take; the rest is kept for workspaces holding none.
func (g *localGate) shared() int { return g.global - g.global/4 }

// observe records how an attempt of a target of ws went, local or not: a
// slow or timed-out attempt makes the target slow for slowFor; a fast one
// ends that at once (the receiver is back) and makes the target known to
// be fast.
func (g *localGate) observe(ws, target string, att delivery.Attempt) {
	slow := att.Class == delivery.ClassTimeout || time.Duration(att.DurationMS)*time.Millisecond > g.slowAfter
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s := g.ws[ws]
	if s == nil {
		s = &wsGate{running: map[uint64]time.Time{}, targets: map[string]*targetGate{}}
		g.ws[ws] = s
	}
	t := s.targets[target]
	if t == nil {
		t = &targetGate{running: map[uint64]time.Time{}}
		s.targets[target] = t
	}
	if slow {
		t.slowUntil, t.fastAt = now.Add(g.slowFor), time.Time{}
		return
	}
	t.slowUntil, t.fastAt = time.Time{}, now
}

// tidy forgets the targets of a workspace with nothing to remember (none
// running, neither slow nor known to be fast any more), and the workspace
// once it has none, so that the maps do not grow with every target ever
// seen.
func (g *localGate) tidy(ws string, s *wsGate) {
	now := g.now()
	for name, t := range s.targets {
		if len(t.running) == 0 && !now.Before(t.slowUntil) && (t.fastAt.IsZero() || now.Sub(t.fastAt) >= g.slowFor) {
			delete(s.targets, name)
		}
	}
	if len(s.running) == 0 && len(s.targets) == 0 {
		delete(g.ws, ws)
	}
}

// sweepAt is the number of remembered workspaces above which enter
// forgets those whose slow period is over.
const sweepAt = 1024

func (g *localGate) sweep() {
	for ws, s := range g.ws {
		g.tidy(ws, s)
	}
}

// size is the number of workspaces remembered (tests).
func (g *localGate) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ws)
}
