package activities

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/limiter"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTestGate(c *clock) *localGate {
	g := newLocalGate(2, 3, 500*time.Millisecond, 30*time.Second)
	g.now = c.now
	return g
}
func mustEnter(t *testing.T, g *localGate, ws string) *gatePass {
	t.Helper()
	return mustEnterTarget(t, g, ws, "h")
}
func mustEnterTarget(t *testing.T, g *localGate, ws, target string) *gatePass {
	t.Helper()
	p, reason := g.enter(ws, target)
	if p == nil {
		t.Fatalf("first attempt of %s refused (%s), want admitted", ws, reason)
	}
	return p
}

func TestGateCapsPerWorkspaceAndInAll(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newTestGate(c)
	a1, a2 := mustEnter(t, g, "a"), mustEnter(t, g, "a")
	if p, reason := g.enter("a", "h"); p != nil || reason != gateWorkspace {
		t.Errorf("third of workspace a: got admitted=%v reason %q, want refused %q", p != nil, reason, gateWorkspace)
	}
	b1 := mustEnter(t, g, "b") // another workspace is not held back by a
	if p, reason := g.enter("c", "h"); p != nil || reason != gateWorker {
		t.Errorf("fourth in all: got admitted=%v reason %q, want refused %q", p != nil, reason, gateWorker)
	}
	a1.leave()
	a1.leave() // twice is harmless
	mustEnter(t, g, "c").leave()
	a2.leave()
	b1.leave()
	if n := g.size(); n != 0 {
		t.Errorf("gate remembers %d workspaces after every attempt ended, want 0", n)
	}
}

func TestGateSlowWorkspace(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newTestGate(c)

	// Waiting for a workspace slot is not slowness; sending for long is.
	p := mustEnter(t, g, "a")
	c.advance(2 * time.Second)
	q := mustEnter(t, g, "a")
	q.leave()
	p.sending()
	c.advance(400 * time.Millisecond)
	mustEnter(t, g, "a").leave()
	c.advance(200 * time.Millisecond) // p has sent for 600 ms
	if q, reason := g.enter("a", "h"); q != nil || reason != gateSlow {
		t.Fatalf("while an attempt has sent for 600 ms: admitted=%v reason %q, want refused %q", q != nil, reason, gateSlow)
	}
	mustEnter(t, g, "b").leave() // other workspaces are not slow

	// It times out: the workspace stays slow for SlowFor.
	g.observe("a", "h", delivery.Attempt{Class: delivery.ClassTimeout, DurationMS: 15000})
	p.leave()
	c.advance(29 * time.Second)
	if q, reason := g.enter("a", "h"); q != nil || reason != gateSlow {
		t.Fatalf("29 s after a timeout: admitted=%v reason %q, want refused %q", q != nil, reason, gateSlow)
	}
	c.advance(2 * time.Second)
	mustEnter(t, g, "a").leave()

	// A fast attempt (made by DeliverWebhook) ends the slow period at once.
	g.observe("a", "h", delivery.Attempt{StatusCode: 200, DurationMS: 900})
	if q, _ := g.enter("a", "h"); q != nil {
		t.Fatal("admitted right after a 900 ms attempt, want refused")
	}
	g.observe("a", "h", delivery.Attempt{StatusCode: 200, DurationMS: 20})
	mustEnter(t, g, "a").leave()
	// A known-fast target is remembered for SlowFor, then forgotten.
	c.advance(31 * time.Second)
	mustEnter(t, g, "a").leave()
	if n := g.size(); n != 0 {
		t.Errorf("gate remembers %d workspaces, want 0", n)
	}
}

// Slowness belongs to a target: a fast attempt of the workspace's healthy
// webhook does not clear its hanging one, and the hanging one does not
// hold back the healthy one.
func TestGateSlownessIsPerTarget(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newLocalGate(8, 200, 500*time.Millisecond, 30*time.Second)
	g.now = c.now
	g.observe("a", "hang", delivery.Attempt{Class: delivery.ClassTimeout, DurationMS: 15000})
	g.observe("a", "fast", delivery.Attempt{StatusCode: 200, DurationMS: 20})
	if p, reason := g.enter("a", "hang"); p != nil || reason != gateSlow {
		t.Errorf("hanging target after a fast attempt of another: got admitted=%v reason %q, want refused %q", p != nil, reason, gateSlow)
	}
	mustEnterTarget(t, g, "a", "fast").leave()
}

// A target not known to be fast gets probeUnknown local first attempts at
// once; after a fast attempt it gets up to the workspace's cap.
func TestGateProbesUnknownTargets(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newLocalGate(8, 200, 500*time.Millisecond, 30*time.Second)
	g.now = c.now
	var held []*gatePass
	for range probeUnknown {
		held = append(held, mustEnterTarget(t, g, "a", "new"))
	}
	if p, reason := g.enter("a", "new"); p != nil || reason != gateSlow {
		t.Fatalf("attempt %d at an unknown target: got admitted=%v reason %q, want refused %q", probeUnknown+1, p != nil, reason, gateSlow)
	}
	g.observe("a", "new", delivery.Attempt{StatusCode: 200, DurationMS: 30})
	for len(held) < 8 {
		held = append(held, mustEnterTarget(t, g, "a", "new"))
	}
	if p, reason := g.enter("a", "new"); p != nil || reason != gateWorkspace {
		t.Errorf("ninth of a known-fast target: got admitted=%v reason %q, want refused %q", p != nil, reason, gateWorkspace)
	}
	for _, p := range held {
		p.leave()
	}
}

// A quarter of the global cap is kept for workspaces holding no local
// first attempt: workspaces that already hold one cannot take it.
func TestGateKeepsAReserveForNewWorkspaces(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newLocalGate(8, 8, 500*time.Millisecond, 30*time.Second) // shared 6, reserve 2
	g.now = c.now
	for _, ws := range []string{"a", "b", "c"} {
		g.observe(ws, "h", delivery.Attempt{StatusCode: 200, DurationMS: 20})
		mustEnter(t, g, ws)
		mustEnter(t, g, ws)
	}
	if p, reason := g.enter("a", "h"); p != nil || reason != gateWorker {
		t.Errorf("a third of a with 6 of 8 taken: got admitted=%v reason %q, want refused %q", p != nil, reason, gateWorker)
	}
	mustEnter(t, g, "d")
	mustEnter(t, g, "e")
	if p, reason := g.enter("f", "h"); p != nil || reason != gateWorker {
		t.Errorf("with all 8 taken: got admitted=%v reason %q, want refused %q", p != nil, reason, gateWorker)
	}
}

// The review's case: 25 workspaces each have a hanging webhook (H) and a
// healthy one (F), and a burst of events reaches H within 500 ms, cycle
// after cycle, while F's attempts answer at once. The hanging first
// attempts hold few workflow-task slots in the first cycle and none after
// (F's fast attempts do not clear H), and a quiet workspace's first
// attempt is always admitted.
func TestGateMixedWorkspaces(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newLocalGate(8, 200, 500*time.Millisecond, 30*time.Second)
	g.now = c.now
	for cycle := 0; cycle < 3; cycle++ {
		var passes []*gatePass
		for w := 0; w < 25; w++ {
			for i := 0; i < 8; i++ {
				if p, _ := g.enter(fmt.Sprint("ws", w), "H"); p != nil {
					p.sending()
					passes = append(passes, p)
				}
			}
		}
		c.advance(time.Second)
		quiet, reason := g.enter("quiet", "q")
		if quiet == nil {
			t.Errorf("cycle %d: the quiet workspace's first attempt was refused (%s), want admitted", cycle, reason)
		} else {
			quiet.leave()
		}
		want := 0
		if cycle == 0 {
			want = 25 * probeUnknown
		}
		if len(passes) != want {
			t.Errorf("cycle %d: got %d hanging local first attempts, want %d", cycle, len(passes), want)
		}
		c.advance(14 * time.Second) // H's attempts time out
		for _, p := range passes {
			g.observe(p.ws, "H", delivery.Attempt{Class: delivery.ClassTimeout, DurationMS: 15000})
			p.leave()
		}
		for w := 0; w < 25; w++ { // F answers at once
			g.observe(fmt.Sprint("ws", w), "F", delivery.Attempt{StatusCode: 200, DurationMS: 20})
		}
	}
}

// Against a new receiver that hangs, only probeUnknown first attempts
// send; the others, and every one after the target turned slow, come back
// at once as Limited (DeliverWebhook makes their attempt instead).
func TestFirstAttemptDoesNotHangOnASlowWorkspace(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	a := &Activities{
		Client:         NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}),
		Limiter:        limiter.NewLocal(50),
		AttemptTimeout: 2 * time.Second, // under the test environment's 3 s local activity timeout
	}
	first := func(i int) (FirstResult, time.Duration) {
		var ts testsuite.WorkflowTestSuite
		env := ts.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		start := time.Now()
		v, err := env.ExecuteLocalActivity(a.FirstAttempt, DeliverInput{DeliveryID: "e:" + string(rune('a'+i)), Workspace: "hanging", URL: srv.URL, Body: []byte(`{}`)})
		if err != nil {
			t.Error(err)
			return FirstResult{}, 0
		}
		var res FirstResult
		if err := v.Get(&res); err != nil {
			t.Error(err)
		}
		return res, time.Since(start)
	}
	var wg sync.WaitGroup
	var limited atomic.Int32
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, d := first(i)
			if res.Limited {
				limited.Add(1)
				if d > time.Second {
					t.Errorf("a refused first attempt took %s, want at once", d)
				}
			}
		}()
	}
	time.Sleep(time.Second) // those sending have run for over 500 ms
	res, d := first(99)
	if !res.Limited || d > 500*time.Millisecond {
		t.Errorf("a first attempt while the workspace is slow: limited=%v after %s, want limited at once", res.Limited, d)
	}
	wg.Wait()
	if got := hits.Load(); got != probeUnknown {
		t.Errorf("the hanging receiver got %d requests, want %d (probeUnknown)", got, probeUnknown)
	}
	if got := limited.Load(); got != 20-probeUnknown {
		t.Errorf("%d of 20 first attempts were handed on, want %d", got, 20-probeUnknown)
	}
}
