package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/netguard"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/workflows"
)

// ssrfForm is one way to aim a webhook at an internal address (issue 11,
// finding 7, and the forms refused before it). Port 1 is never used: each
// test puts its own counting listener's port in.
type ssrfForm struct {
	host string // as written in the URL (IPv6 in brackets)
	// msg is what every refusal at configuration must say.
	msg string
}

var ssrfForms = []ssrfForm{
	// Before issue 11.
	{"127.0.0.1", "destination 127.0.0.1 is in a blocked range (loopback)"},
	{"10.0.0.5", "destination 10.0.0.5 is in a blocked range (private (RFC 1918))"},
	{"169.254.169.254", "destination 169.254.169.254 is in a blocked range (link-local (cloud metadata))"},
	{"[::1]", "destination ::1 is in a blocked range (loopback)"},
	{"[::ffff:127.0.0.1]", "is in a blocked range (loopback via IPv4-mapped)"},
	{"[64:ff9b::a9fe:a9fe]", "is in a blocked range (link-local (cloud metadata) via NAT64)"},
	// IPv4 inside other IPv6 forms.
	{"[::127.0.0.1]", "is in a blocked range (loopback via IPv4-compatible)"},
	{"[::169.254.169.254]", "is in a blocked range (link-local (cloud metadata) via IPv4-compatible)"},
	{"[::ffff:0:127.0.0.1]", "is in a blocked range (loopback via IPv4-translated)"},
	// IANA special-purpose IPv6 ranges and a cloud platform address.
	{"[3fff::1]", "destination 3fff::1 is in a blocked range (documentation)"},
	{"[2001:2::1]", "destination 2001:2::1 is in a blocked range (benchmarking)"},
	{"[2001:10::1]", "destination 2001:10::1 is in a blocked range (ORCHID (deprecated))"},
	{"[2001:20::1]", "destination 2001:20::1 is in a blocked range (ORCHIDv2)"},
	{"[5f00::1]", "destination 5f00::1 is in a blocked range (SRv6 SIDs)"},
	{"168.63.129.16", "destination 168.63.129.16 is in a blocked range (cloud platform address (Azure WireServer))"},
	// Numbers in disguise: browsers (and Go's IDNA mapping or the system
	// resolver) read each as 127.0.0.1.
	{"2130706433", "is the IPv4 address 127.0.0.1 written in another form"},
	{"0x7f.1", "is the IPv4 address 127.0.0.1 written in another form"},
	{"0177.0.0.1", "is the IPv4 address 127.0.0.1 written in another form"},
	{"127.1", "is the IPv4 address 127.0.0.1 written in another form"},
	{"127\uff0e0\uff0e0\uff0e1", "is the IPv4 address 127.0.0.1 written in another form"},
	{"127\u30020\u30020\u30021", "is the IPv4 address 127.0.0.1 written in another form"},
	{"127\uff610\uff610\uff611", "is the IPv4 address 127.0.0.1 written in another form"},
	{"\u2460\u2461\u2466.0.0.1", "is the IPv4 address 127.0.0.1 written in another form"},
}

func (f ssrfForm) url(port string) string { return "https://" + f.host + ":" + port + "/hook" }

// countingListener accepts TCP connections on 127.0.0.1 and counts them:
// the proof that nothing was sent to the loopback forms.
func countingListener(t *testing.T) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// Every form is refused when it is configured: webhook create and update
// through the API, and publish with a direct target through the API and the
// Go API, each with a message naming the address and why. Nothing is
// stored, started or sent.
func TestAttackSSRFRefusedAtConfiguration(t *testing.T) {
	t.Parallel()
	port, accepted := countingListener(t)
	// The shared API allows 127.0.0.1 (the tests' receivers); this one
	// allows nothing, as in production: every form is refused.
	strict := netguard.New(nil)
	sreg := registry.New(tc, registry.Options{Sealer: srv.Keys, Hosts: strict})
	spub := publisher.New(tc, publisher.Options{AllowDirectSecrets: true, DataConverter: codec.DataConverter(srv.Keys), Router: sreg, Hosts: strict})
	s := httptest.NewServer((&api.Server{Registry: sreg, Publisher: spub, Tokens: apiKeys}).Handler())
	t.Cleanup(s.Close)
	c := newAPI(t)
	c.srv = s
	// A valid webhook to update: public-looking name, never delivered to.
	const valid = "https://hooks.example.com/hari"
	var good view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, valid), &good); code != http.StatusCreated {
		t.Fatalf("create a valid webhook: %d %s", code, body)
	}
	for _, f := range ssrfForms {
		u := f.url(port)
		var e apiError
		if code, raw := c.do("POST", c.hooks(), fmtURL(strings.Replace(closedWon, "Closed Won to ERP", "attack "+f.host, 1), u), &e); code != http.StatusBadRequest || e.Error.Field != "url" || !strings.Contains(e.Error.Message, f.msg) {
			t.Errorf("create %s: got %d %s, want 400 on url with %q", f.host, code, raw, f.msg)
		}
		e = apiError{}
		if code, raw := c.do("PUT", c.hooks()+"/"+good.ID, fmtURL(closedWon, u), &e); code != http.StatusBadRequest || e.Error.Field != "url" || !strings.Contains(e.Error.Message, f.msg) {
			t.Errorf("update %s: got %d %s, want 400 on url with %q", f.host, code, raw, f.msg)
		}

		id := "ssrf-" + uuid.NewString()[:8]
		ev := strings.Replace(oppEvent(c.ws, "Closed Won"), `"changes"`, `"id": "`+id+`", "targets": [{"id": "t", "url": "`+u+`"}], "changes"`, 1)
		e = apiError{}
		if code, raw := c.do("POST", c.events(), ev, &e); code != http.StatusBadRequest || !strings.Contains(e.Error.Message, f.msg) {
			t.Errorf("publish %s through the API: got %d %s, want 400 with %q", f.host, code, raw, f.msg)
		}
		goEv := newEvent()
		goEv.Workspace = c.ws
		_, err := spub.Publish(context.Background(), workflows.EventInput{Event: goEv, Targets: []endpoint.Target{{ID: "t", URL: u}}})
		if !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), f.msg) {
			t.Errorf("publish %s through the Go API: got %v, want invalid target with %q", f.host, err, f.msg)
		}
		for _, eid := range []string{id, goEv.ID} {
			_, err := tc.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(c.ws, eid), "")
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				t.Errorf("publish %s: event %s: got %v, want no workflow started", f.host, eid, err)
			}
		}
	}
	var stored struct{ Webhooks []view }
	if code, body := c.do("GET", c.hooks(), "", &stored); code != http.StatusOK || len(stored.Webhooks) != 1 || stored.Webhooks[0].URL != valid {
		t.Errorf("stored webhooks: got %d %s, want only the valid one, unchanged", code, body)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("connections to the loopback listener: got %d, want 0", n)
	}
}

// safeControl wraps the guard's dial hook so that a test can never reach
// anything outside the loopback listener, even if the guard had a hole: an
// address the guard lets through that is not 127.0.0.1 is refused with a
// test error (class network, not blocked_destination: the test fails).
func safeControl(g *netguard.Guard, leaks *atomic.Int32) func(string, string, syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		if err := g.Control(network, address, c); err != nil {
			return err
		}
		leaks.Add(1)
		if ap, err := netip.ParseAddrPort(address); err == nil && ap.Addr() == netip.MustParseAddr("127.0.0.1") {
			return nil
		}
		return fmt.Errorf("test safety: the guard let %s through", address)
	}
}

// At dial time, with no allow-list, every form is refused on the address
// actually dialled: through the delivery HTTP client (disguised forms are
// dialled as the address browsers read in them), and through a real worker
// running EventWorkflow from a raw Temporal client start, which skips the
// configuration checks. The attempt class is blocked_destination, the
// failure is final, and nothing reaches the listener.
func TestAttackSSRFBlockedAtDialTime(t *testing.T) {
	t.Parallel()
	port, accepted := countingListener(t)
	var leaks atomic.Int32
	httpClient := activities.NewHTTPClient(activities.ClientOptions{Control: safeControl(netguard.New(nil), &leaks)})

	for _, f := range ssrfForms {
		a := activities.Send(context.Background(), httpClient, activities.Request{URL: f.url(port), Body: []byte(`{}`), Attempt: 1, Timeout: 5 * time.Second})
		if a.Class != delivery.ClassBlocked || a.Retryable() || !strings.Contains(a.Error, "is in a blocked range") {
			t.Errorf("HTTP client, %s: got class %q (%s), want final %q", f.host, a.Class, a.Error, delivery.ClassBlocked)
		}
	}

	// A worker with no allow-list, on its own task queue.
	queue := "ssrf-" + uuid.NewString()[:8]
	w, err := service.NewWorker(tc, service.Options{AllowDirectSecrets: true, TaskQueue: queue, Secrets: srv.Keys, AttemptTimeout: 5 * time.Second,
		HTTPClient: activities.NewHTTPClient(activities.ClientOptions{Control: safeControl(netguard.New(nil), &leaks)})})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := newEvent()
	in := workflows.EventInput{Event: ev}
	for i, f := range ssrfForms {
		in.Targets = append(in.Targets, endpoint.Target{ID: fmt.Sprintf("t%02d", i), URL: f.url(port)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(ev.Workspace, ev.ID), TaskQueue: queue}, workflows.EventWorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.EventResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Deliveries) != len(ssrfForms) {
		t.Fatalf("deliveries: got %d, want %d", len(res.Deliveries), len(ssrfForms))
	}
	for i, f := range ssrfForms {
		d := res.Deliveries[i]
		if d.Status != workflows.StatusFailed {
			t.Errorf("worker, %s: got status %s, want failed", f.host, d.Status)
			continue
		}
		// Disguised forms are dialled as the address browsers read in them;
		// the dialer may take ::ffff:a.b.c.d as a.b.c.d: the range is named
		// for the address dialled.
		if len(d.Attempts) != 1 || d.Attempts[0].Class != delivery.ClassBlocked || !strings.Contains(d.Attempts[0].Error, "is in a blocked range") {
			t.Errorf("worker, %s: got %+v, want one %s attempt", f.host, d.Attempts, delivery.ClassBlocked)
		}
	}
	if n := leaks.Load(); n != 0 {
		t.Errorf("addresses the guard let through: got %d, want 0", n)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("connections to the loopback listener: got %d, want 0", n)
	}
}
