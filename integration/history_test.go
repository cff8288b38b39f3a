package integration

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/payload"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/tclient"
	"github.com/hari-crm/webhooks/workflows"
)

// A delivery that succeeds at once costs 7 history events: started, one
// workflow task (3), the first attempt's marker, the outcome's search
// attributes, completed. The body query, continue-as-new and their
// version markers add nothing to this path.
func TestImmediateDeliveryCostsSevenEvents(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(200))
	ev := newEvent()
	o := publishWait(t, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "fast", URL: rc.URL, Secret: secret}}})
	if d := o.Deliveries[0]; d.Status != workflows.StatusDelivered || len(d.Attempts) != 1 {
		t.Fatalf("got %s with %d attempts, want delivered at once", d.Status, len(d.Attempts))
	}
	events := history(t, workflows.WorkflowID(ev.Workspace, ev.ID))
	if len(events) != 7 {
		for _, e := range events {
			t.Logf("%d %s", e.GetEventId(), e.GetEventType())
		}
		t.Errorf("history events: got %d, want 7", len(events))
	}
}

// On a real server that suggests continue-as-new early, a delivery whose
// workspace limiter is unreachable parks, the workflow continues as new,
// and the next run delivers it: Show reads the current run while it waits,
// Wait follows the runs to the result, and the body (fetched by query,
// through the codec) arrives whole.
func TestContinueAsNewOnARealServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv2, err := devtest.NewServer(ctx, "", "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=10")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Dev.Stop()
	c, err := tclient.Dial(tclient.Config{Address: srv2.HostPort, Namespace: "default", Keys: srv2.Keys}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := devtest.NewReceiver(t, codes(200))
	lim := &unreachableFor{Local: limiter.NewLocal(50), down: 3 * time.Second}
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, Limiter: lim, Secrets: srv2.Keys,
		HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(rc), Control: guard.Control})})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true, DataConverter: codec.DataConverter(srv2.Keys)})

	ev := newEvent()
	r, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "waits", URL: rc.URL, Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	// While the limiter is down, the workflow continues as new; Show
	// reads the newest run, which still lists the delivery as pending.
	sawPending := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		desc, err := c.DescribeWorkflowExecution(ctx, r.WorkflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		info := desc.GetWorkflowExecutionInfo()
		if info.GetExecution().GetRunId() == r.RunID {
			continue
		}
		if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			break
		}
		o, err := p.Show(ctx, ev.Workspace, ev.ID)
		if err != nil {
			t.Fatalf("show during run 2: %v", err)
		}
		if len(o.Deliveries) != 1 || o.Deliveries[0].WebhookID != "waits" {
			t.Fatalf("show during run 2: got %+v, want the delivery", o.Deliveries)
		}
		if o.Deliveries[0].Status == workflows.StatusPending {
			sawPending = true
			break
		}
	}
	if !sawPending {
		t.Error("never saw the delivery pending in a continued run")
	}
	o, err := p.Wait(ctx, ev.Workspace, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := o.Deliveries[0]; d.Status != workflows.StatusDelivered || len(d.Attempts) != 1 || d.Attempts[0].Number != 1 {
		t.Fatalf("got %s with attempts %+v, want delivered at attempt 1", d.Status, d.Attempts)
	}
	first, err := c.DescribeWorkflowExecution(ctx, r.WorkflowID, r.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if st := first.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		t.Errorf("run 1 ended %s, want continued as new", st)
	}
	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(hits))
	}
	want, err := payload.Build(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(hits[0].Body) != string(want) {
		t.Errorf("body: got %q, want %q", hits[0].Body, want)
	}
	if !signature.Verify(secret, hits[0].Body, hits[0].Header.Get(signature.HeaderSignature)) {
		t.Error("signature does not verify")
	}
}

// unreachableFor is a limiter that cannot be reached (Redis down) for
// down after it is first asked.
type unreachableFor struct {
	*limiter.Local
	down  time.Duration
	mu    sync.Mutex
	until time.Time
}

func (l *unreachableFor) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until.IsZero() {
		l.until = time.Now().Add(l.down)
	}
	return time.Now().Before(l.until)
}

func (l *unreachableFor) TryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	if l.isDown() {
		return nil, false, errors.New("limiter unreachable (test outage)")
	}
	return l.Local.TryAcquire(ctx, ws)
}

func (l *unreachableFor) Acquire(ctx context.Context, ws string, t limiter.Ticket) (func(), error) {
	if l.isDown() {
		return nil, errors.New("limiter unreachable (test outage)")
	}
	return l.Local.Acquire(ctx, ws, t)
}

// timedQuerier is the worker's client for body queries, timing each.
type timedQuerier struct {
	c interface {
		QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	}
	mu sync.Mutex
	d  []time.Duration
}

func (q *timedQuerier) QueryWorkflow(ctx context.Context, wid, rid, qt string, args ...any) (converter.EncodedValue, error) {
	start := time.Now()
	v, err := q.c.QueryWorkflow(ctx, wid, rid, qt, args...)
	q.mu.Lock()
	q.d = append(q.d, time.Since(start))
	q.mu.Unlock()
	return v, err
}

// A retried delivery's body reaches DeliverWebhook from the cache that
// FirstAttempt filled on the same worker, or, without it, from one body
// query per DeliverWebhook attempt. 30 events whose receivers answer 500,
// 500, 200, with the worker options of service.NewWorker: every receiver
// gets the same bytes three times, and the query latency is logged
// (go test -run TestRetriedBodyFromCacheOrQuery -v ./integration/).
func TestRetriedBodyFromCacheOrQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		cache       int
		wantQueries int
	}{
		{"cache", 0, 0},
		{"query", -1, 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			retriedBodies(t, tt.cache, tt.wantQueries)
		})
	}
}

func retriedBodies(t *testing.T, cache, wantQueries int) {
	q := &timedQuerier{c: tc}
	probe := devtest.NewReceiver(t, codes(200))
	tq := "body-query-" + uuid.NewString()[:8]
	w := worker.New(tc, tq, worker.Options{
		MaxConcurrentActivityExecutionSize: 1000, MaxConcurrentLocalActivityExecutionSize: 1000,
		MaxConcurrentWorkflowTaskExecutionSize: 500, MaxConcurrentWorkflowTaskPollers: 8, MaxConcurrentActivityTaskPollers: 8,
	})
	w.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
	w.RegisterActivity(&activities.Activities{AllowDirectSecrets: true, Workflows: q, BodyCache: cache, Limiter: limiter.NewLocal(50), Secrets: srv.Keys,
		Client: activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(probe), Control: guard.Control})})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	p := publisher.New(tc, publisher.Options{AllowDirectSecrets: true, TaskQueue: tq, DataConverter: codec.DataConverter(srv.Keys)})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 30
	rcs := make([]*devtest.Receiver, n)
	var wg sync.WaitGroup
	for i := range rcs {
		ev := newEvent()
		rcs[i] = devtest.NewReceiver(t, codes(500, 500, 200))
		if _, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "m", URL: rcs[i].URL, Secret: secret}}}); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := p.Wait(ctx, ev.Workspace, ev.ID)
			if err != nil {
				t.Error(err)
				return
			}
			if d := o.Deliveries[0]; d.Status != workflows.StatusDelivered || len(d.Attempts) != 3 {
				t.Errorf("%s: got %s after %d attempts, want delivered after 3", ev.ID, d.Status, len(d.Attempts))
			}
		}()
	}
	wg.Wait()
	for i, rc := range rcs {
		hits := rc.Hits()
		if len(hits) != 3 {
			t.Errorf("receiver %d: got %d requests, want 3", i, len(hits))
			continue
		}
		for _, h := range hits[1:] {
			if string(h.Body) != string(hits[0].Body) {
				t.Errorf("receiver %d: a retry's body differs from attempt 1's", i)
			}
		}
	}
	q.mu.Lock()
	d := append([]time.Duration(nil), q.d...)
	q.mu.Unlock()
	if len(d) != wantQueries {
		t.Fatalf("body queries: got %d, want %d", len(d), wantQueries)
	}
	if len(d) > 0 {
		slices.Sort(d)
		t.Logf("%d body queries: p50 %s, p90 %s, max %s", len(d), d[len(d)/2].Round(time.Millisecond), d[len(d)*9/10].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
}
