package activities

import (
	"crypto/tls"
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
	p, reason := g.enter(ws)
	if p == nil {
		t.Fatalf("first attempt of %s refused (%s), want admitted", ws, reason)
	}
	return p
}

func TestGateCapsPerWorkspaceAndInAll(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	g := newTestGate(c)
	a1, a2 := mustEnter(t, g, "a"), mustEnter(t, g, "a")
	if p, reason := g.enter("a"); p != nil || reason != gateWorkspace {
		t.Errorf("third of workspace a: got admitted=%v reason %q, want refused %q", p != nil, reason, gateWorkspace)
	}
	b1 := mustEnter(t, g, "b") // another workspace is not held back by a
	if p, reason := g.enter("c"); p != nil || reason != gateWorker {
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
	if q, reason := g.enter("a"); q != nil || reason != gateSlow {
		t.Fatalf("while an attempt has sent for 600 ms: admitted=%v reason %q, want refused %q", q != nil, reason, gateSlow)
	}
	mustEnter(t, g, "b").leave() // other workspaces are not slow

	// It times out: the workspace stays slow for SlowFor.
	g.observe("a", delivery.Attempt{Class: delivery.ClassTimeout, DurationMS: 15000})
	p.leave()
	c.advance(29 * time.Second)
	if q, reason := g.enter("a"); q != nil || reason != gateSlow {
		t.Fatalf("29 s after a timeout: admitted=%v reason %q, want refused %q", q != nil, reason, gateSlow)
	}
	c.advance(2 * time.Second)
	mustEnter(t, g, "a").leave()

	// A fast attempt (made by DeliverWebhook) ends the slow period at once.
	g.observe("a", delivery.Attempt{StatusCode: 200, DurationMS: 900})
	if q, _ := g.enter("a"); q != nil {
		t.Fatal("admitted right after a 900 ms attempt, want refused")
	}
	g.observe("a", delivery.Attempt{StatusCode: 200, DurationMS: 20})
	mustEnter(t, g, "a").leave()
	if n := g.size(); n != 0 {
		t.Errorf("gate remembers %d workspaces, want 0", n)
	}
}

// Against a receiver that hangs, only LocalPerWorkspace first attempts
// send; the others, and every one after the workspace turned slow, come
// back at once as Limited (DeliverWebhook makes their attempt instead).
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
	time.Sleep(time.Second) // the 8 sending have run for over 500 ms
	res, d := first(99)
	if !res.Limited || d > 500*time.Millisecond {
		t.Errorf("a first attempt while the workspace is slow: limited=%v after %s, want limited at once", res.Limited, d)
	}
	wg.Wait()
	if got := hits.Load(); got != 8 {
		t.Errorf("the hanging receiver got %d requests, want 8 (LocalPerWorkspace)", got)
	}
	if got := limited.Load(); got != 12 {
		t.Errorf("%d of 20 first attempts were handed on, want 12", got)
	}
}
