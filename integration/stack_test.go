package integration

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/workflows"
)

// The TestStack tests run against the production shape (make stack-test:
// HARI_STACK=1 starts scripts/stack.sh, Temporal on PostgreSQL with two
// supervised worker processes sharing Redis). Under the dev server they
// have nothing to act on and skip.
func needStack(t *testing.T) *devtest.Stack {
	t.Helper()
	if stack == nil {
		t.Skip("needs the production shape: make stack-test (HARI_STACK=1)")
	}
	return stack
}

// waitDelivered waits until every event reached "delivered", asking again
// while the server or its database is coming back (a restart cuts the
// long poll).
func waitDelivered(t *testing.T, ws string, ids []string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, id := range ids {
		for {
			o, err := pub.Wait(ctx, ws, id)
			if err == nil {
				if o.Deliveries[0].Status != workflows.StatusDelivered {
					t.Errorf("event %s: got %s (%s), want delivered", id, o.Deliveries[0].Status, o.Deliveries[0].Error)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("event %s: no outcome within %s: %v", id, timeout, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// crashReceiver accepts each event's second request and fails its first
// (so every delivery is between retries for a while), holding some first
// requests for 2 s so that some are mid-POST at a fault.
func crashReceiver(t *testing.T, l *ledger) *devtest.Receiver {
	return devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		ev, before := l.record(r)
		if before == 0 {
			if index(ev)%3 == 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(2 * time.Second):
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		l.accepted(ev)
		w.WriteHeader(http.StatusOK)
	})
}

func waitRequests(t *testing.T, l *ledger, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for l.total() < n {
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d requests within 90s, want %d", l.total(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill -9 one of the stack's two workers with deliveries under way: the
// other worker finishes them, the supervisor starts the killed one again,
// and no event is lost.
func TestStackWorkerKillLosesNothing(t *testing.T) {
	s := needStack(t)
	l := newLedger()
	rc := crashReceiver(t, l)
	ws := "stack-kill-" + uuid.NewString()[:6]
	ids := publishIDs(t, pub, "kill"+uuid.NewString()[:6], ws, rc.URL, 0, 60)
	// The kill must cut work under way: wait until worker 1 itself has an
	// attempt in flight (its /metrics), deliveries having begun.
	deadline := time.Now().Add(90 * time.Second)
	for l.total() < 20 || metricSum(t, s.Env["WORKER1_HTTP"], "hari_webhook_inflight_attempts") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("worker1 had no attempt in flight within 90s (receiver got %d requests), want one at the kill", l.total())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid, err := s.PID("worker1")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 worker1 (pid %d) after %d requests, with attempts in flight in it", pid, l.total())
	if _, err := s.WaitRestarted("worker1", pid, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, s.Log("worker1"))
	}
	waitDelivered(t, ws, ids, 3*time.Minute)
	l.check(t, ids)
}

// kill -9 the Temporal server mid-run: its supervisor starts it again on
// the same PostgreSQL, deliveries resume, new events are taken, none lost.
func TestStackServerRestartLosesNothing(t *testing.T) {
	s := needStack(t)
	l := newLedger()
	rc := crashReceiver(t, l)
	ws := "stack-server-" + uuid.NewString()[:6]
	prefix := "server" + uuid.NewString()[:6]
	ids := publishIDs(t, pub, prefix, ws, rc.URL, 0, 40)
	waitRequests(t, l, 20)
	pid, err := s.PID("temporal")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 the Temporal server (pid %d) after %d requests", pid, l.total())
	if _, err := s.WaitRestarted("temporal", pid, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, s.Log("temporal"))
	}
	ids = append(ids, publishAfterFault(t, prefix, ws, rc.URL, 40, 10)...)
	waitDelivered(t, ws, ids, 4*time.Minute)
	l.check(t, ids)
}

// Restart PostgreSQL (fast shutdown: the server's sessions are cut) mid-run:
// the server reconnects, deliveries resume, none lost.
func TestStackPostgresRestartLosesNothing(t *testing.T) {
	s := needStack(t)
	l := newLedger()
	rc := crashReceiver(t, l)
	ws := "stack-pg-" + uuid.NewString()[:6]
	prefix := "pg" + uuid.NewString()[:6]
	ids := publishIDs(t, pub, prefix, ws, rc.URL, 0, 40)
	waitRequests(t, l, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.RestartPostgres(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted PostgreSQL after %d requests", l.total())
	ids = append(ids, publishAfterFault(t, prefix, ws, rc.URL, 40, 10)...)
	waitDelivered(t, ws, ids, 4*time.Minute)
	l.check(t, ids)
}

// publishAfterFault publishes n more events once the server takes them
// again (a publish right after a restart may find it still starting).
func publishAfterFault(t *testing.T, prefix, ws, url string, from, n int) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := tc.CheckHealth(ctx, nil)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Temporal not healthy again within 2m: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	ids := make([]string, n)
	for i := range ids {
		ev := newEvent()
		ev.ID = prefix + "-" + strconv.Itoa(1000 + from + i)[1:]
		ev.Workspace = ws
		ids[i] = ev.ID
		for {
			err := publishOne(ev, url)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s after the fault: %v", ev.ID, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return ids
}

// The stack's two workers share the per-workspace limit of 50 through
// Redis: together they never have more than 50 POSTs of one workspace in
// flight, and both deliver.
func TestStackWorkersShareTheLimit(t *testing.T) {
	s := needStack(t)
	var cc concurrency
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		cc.enter()
		defer cc.leave()
		time.Sleep(500 * time.Millisecond)
		w.WriteHeader(200)
	})
	before := [2]float64{attempts(t, s.Env["WORKER1_HTTP"]), attempts(t, s.Env["WORKER2_HTTP"])}
	ws := "stack-limit-" + uuid.NewString()[:6]
	ids := publishIDs(t, pub, "limit"+uuid.NewString()[:6], ws, rc.URL, 0, 150)
	waitDelivered(t, ws, ids, 3*time.Minute)
	if got := cc.peak.Load(); got > 50 {
		t.Errorf("peak concurrency at the receiver %d, want at most the limit of 50", got)
	}
	if n := len(rc.Hits()); n != 150 {
		t.Errorf("receiver got %d requests, want 150", n)
	}
	for i, addr := range []string{s.Env["WORKER1_HTTP"], s.Env["WORKER2_HTTP"]} {
		if d := attempts(t, addr) - before[i]; d < 1 {
			t.Errorf("worker%d made %v attempts, want some: both workers deliver", i+1, d)
		}
	}
	t.Logf("peak %d in flight for one workspace across both workers", cc.peak.Load())
}

// attempts sums hari_webhook_attempts_total on a worker's /metrics.
func attempts(t *testing.T, addr string) float64 {
	t.Helper()
	return metricSum(t, addr, "hari_webhook_attempts_total")
}

// metricSum sums the samples of the metric name (every label set) on a
// worker's /metrics.
func metricSum(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != name && !strings.HasPrefix(f[0], name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return sum
}

func publishOne(ev event.Event, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := pub.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: url}}})
	return err
}
