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
//     slots);
//   - a workspace is "slow" while one of its local first attempts has run
//     longer than slowAfter, or for slowFor after an attempt (local or not)
//     took longer than slowAfter or timed out; a fast attempt ends it.
//
// A first attempt the gate refuses makes no attempt: the delivery's
// attempt 1 is made by DeliverWebhook, a regular activity, which holds no
// workflow task. So N hanging workspaces hold at most
// min(N*perWorkspace, global) workflow-task slots, for one attempt timeout
// at most, and every other workspace's workflow tasks find a slot.
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
	// running are the local first attempts in flight: when each began to
	// send (zero while it waits for a workspace slot).
	running   map[uint64]time.Time
	slowUntil time.Time
}

// gatePass is one admitted local first attempt.
type gatePass struct {
	g    *localGate
	ws   string
	s    *wsGate
	id   uint64
	once sync.Once
}

// sending marks the moment the attempt begins to send: from here on, a
// long run means a slow receiver.
func (p *gatePass) sending() {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	if _, ok := p.s.running[p.id]; ok {
		p.s.running[p.id] = p.g.now()
	}
}

// leave ends the attempt's admission.
func (p *gatePass) leave() {
	p.once.Do(func() {
		p.g.mu.Lock()
		defer p.g.mu.Unlock()
		delete(p.s.running, p.id)
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

// enter admits a local first attempt of workspace ws; its pass must be
// left when it ends. When it is refused, reason says why.
func (g *localGate) enter(ws string) (*gatePass, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s := g.ws[ws]
	if s != nil {
		if now.Before(s.slowUntil) {
			return nil, gateSlow
		}
		for _, start := range s.running {
			if !start.IsZero() && now.Sub(start) > g.slowAfter {
				return nil, gateSlow
			}
		}
		if len(s.running) >= g.perWorkspace {
			return nil, gateWorkspace
		}
	}
	if g.total >= g.global {
		return nil, gateWorker
	}
	if s == nil {
		if len(g.ws) >= sweepAt {
			g.sweep()
		}
		s = &wsGate{running: map[uint64]time.Time{}}
		g.ws[ws] = s
	}
	g.seq++
	s.running[g.seq] = time.Time{}
	g.total++
	return &gatePass{g: g, ws: ws, s: s, id: g.seq}, ""
}

// observe records how an attempt of ws went, local or not: a slow or
// timed-out attempt makes the workspace slow for slowFor; a fast one ends
// that at once (the receiver is back).
func (g *localGate) observe(ws string, att delivery.Attempt) {
	slow := att.Class == delivery.ClassTimeout || time.Duration(att.DurationMS)*time.Millisecond > g.slowAfter
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.ws[ws]
	if slow {
		if s == nil {
			s = &wsGate{running: map[uint64]time.Time{}}
			g.ws[ws] = s
		}
		s.slowUntil = g.now().Add(g.slowFor)
		return
	}
	if s != nil {
		s.slowUntil = time.Time{}
		g.tidy(ws, s)
	}
}

// tidy forgets a workspace with nothing to remember, so that the map does
// not grow with every workspace ever seen.
func (g *localGate) tidy(ws string, s *wsGate) {
	if len(s.running) == 0 && !g.now().Before(s.slowUntil) {
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
