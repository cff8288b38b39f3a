package integration

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/internal/redistest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/workflows"
)

// concurrency counts requests in progress at a receiver.
type concurrency struct {
	now, peak atomic.Int32
}

func (c *concurrency) enter() {
	n := c.now.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
}

func (c *concurrency) leave() { c.now.Add(-1) }

func (e *cliEnv) withEnv(kv ...string) *cliEnv {
	cp := *e
	cp.env = append(append([]string(nil), e.env...), kv...)
	return &cp
}

func (e *cliEnv) queue() string {
	for i := len(e.env) - 1; i >= 0; i-- {
		if len(e.env[i]) > len("HARI_TASK_QUEUE=") && e.env[i][:len("HARI_TASK_QUEUE=")] == "HARI_TASK_QUEUE=" {
			return e.env[i][len("HARI_TASK_QUEUE="):]
		}
	}
	return ""
}

func publishN(t *testing.T, p *publisher.Publisher, ws, url string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ev := newEvent()
		ev.Workspace = ws
		r, err := p.Publish(context.Background(), workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: url}}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.EventID
	}
	return ids
}

func waitAll(t *testing.T, p *publisher.Publisher, ws string, ids []string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, id := range ids {
		o, err := p.Wait(ctx, ws, id)
		if err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		if o.Deliveries[0].Status != workflows.StatusDelivered {
			t.Errorf("event %s: %s (%s)", id, o.Deliveries[0].Status, o.Deliveries[0].Error)
		}
	}
}

// Two worker processes sharing Redis never exceed the workspace limit
// together, and use all of it.
func TestLimitHoldsAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	var cc concurrency
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		cc.enter()
		defer cc.leave()
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(200)
	})
	e := newCLIEnv(t, rc).withEnv("HARI_REDIS_ADDR="+rs.Addr, "HARI_WORKSPACE_LIMIT=5")
	e.startWorker()
	e.startWorker()
	p := publisher.New(tc, publisher.Options{AllowDirectSecrets: true, TaskQueue: e.queue(), DataConverter: codec.DataConverter(srv.Keys)})
	ws := "shared-" + uuid.NewString()[:6]
	ids := publishN(t, p, ws, rc.URL, 40)
	waitAll(t, p, ws, ids, 60*time.Second)
	if got := cc.peak.Load(); got != 5 {
		t.Errorf("peak concurrency at the receiver %d, want exactly the limit of 5", got)
	}
	if n := len(rc.Hits()); n != 40 {
		t.Errorf("receiver got %d requests, want 40", n)
	}
}

// kill -9 a worker holding slots: its slots come back by lease expiry and
// its deliveries complete on the other worker.
func TestKilledWorkerSlotsComeBack(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	var cc concurrency
	var mu sync.Mutex
	hold := make(chan struct{})
	var holding int
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		cc.enter()
		defer cc.leave()
		mu.Lock()
		first := holding < 3
		if first {
			holding++
		}
		mu.Unlock()
		if first { // the first three hang until the test lets go
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(200)
	})
	e := newCLIEnv(t, rc).withEnv("HARI_REDIS_ADDR="+rs.Addr, "HARI_WORKSPACE_LIMIT=3", "HARI_LEASE=3s", "HARI_ATTEMPT_TIMEOUT=2s")
	doomed := e.startWorker()
	p := publisher.New(tc, publisher.Options{AllowDirectSecrets: true, TaskQueue: e.queue(), DataConverter: codec.DataConverter(srv.Keys)})
	ws := "crash-" + uuid.NewString()[:6]
	ids := publishN(t, p, ws, rc.URL, 3)
	rc.WaitHits(t, 3, 15*time.Second) // the doomed worker holds all 3 slots

	if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = doomed.cmd.Process.Wait()
	killed := time.Now()
	close(hold)
	e.startWorker()
	more := publishN(t, p, ws, rc.URL, 3)
	rc.WaitHits(t, 4, 20*time.Second)
	first := rc.Hits()[3].At
	if d := first.Sub(killed); d > 10*time.Second {
		t.Errorf("the first new delivery started %s after the kill, want within the 3 s lease (+ worker start-up and CI slack)", d)
	}
	waitAll(t, p, ws, append(ids, more...), 60*time.Second)
	if got := cc.peak.Load(); got > 3 {
		t.Errorf("peak concurrency %d over the limit of 3", got)
	}
}
