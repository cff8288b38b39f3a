package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/workflows"
)

// recordEvents records, with the current code, into dir:
//   - event_retries_v2.json: one target answers 500, 500, 200 (attempt 1
//     local, then DeliverWebhook with its body query and retries), another
//     404;
//   - event_continued_run1.json and event_continued_run2.json: a delivery
//     whose workspace limiter is unreachable for its first 1.5 s, on a
//     server that suggests continue-as-new after 10 events: run 1 parks the
//     waiting delivery and continues as new, run 2 delivers it.
//
// It fails unless both events end as described.
func recordEvents(dir string) error {
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx, "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=10")
	if err != nil {
		return err
	}
	defer stop()

	var mu sync.Mutex
	n := 0
	flaky := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer flaky.Close()
	gone := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer gone.Close()
	ok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer ok.Close()

	lim := &downFirst{Local: limiter.NewLocal(50), workspace: "replay-wait", down: 1500 * time.Millisecond}
	stopWorker, err := startWorker(c, lim, flaky, gone, ok)
	if err != nil {
		return err
	}
	defer stopWorker()
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true})

	retries := workflows.EventInput{
		Event:   replayEvent("replay-event-2", "replay"),
		Targets: []endpoint.Target{{ID: "flaky", URL: flaky.URL}, {ID: "gone", URL: gone.URL}},
	}
	r, err := p.Publish(ctx, retries)
	if err != nil {
		return err
	}
	o, err := p.Wait(ctx, retries.Event.Workspace, retries.Event.ID)
	if err != nil {
		return err
	}
	if got := len(o.Deliveries[0].Attempts); o.Deliveries[0].Status != workflows.StatusDelivered || got != 3 {
		return fmt.Errorf("retries: flaky ended %s after %d attempts, want delivered after 3", o.Deliveries[0].Status, got)
	}
	if err := show(srv.HostPort, r.WorkflowID, r.RunID, filepath.Join(dir, "event_retries_v2.json")); err != nil {
		return err
	}

	waiting := workflows.EventInput{
		Event:   replayEvent("replay-event-3", "replay-wait"),
		Targets: []endpoint.Target{{ID: "waits", URL: ok.URL}},
	}
	r, err = p.Publish(ctx, waiting)
	if err != nil {
		return err
	}
	o, err = p.Wait(ctx, waiting.Event.Workspace, waiting.Event.ID)
	if err != nil {
		return err
	}
	if d := o.Deliveries[0]; d.Status != workflows.StatusDelivered || len(d.Attempts) != 1 || d.Attempts[0].Number != 1 {
		return fmt.Errorf("continued: ended %s with %d attempts, want delivered at attempt 1", d.Status, len(d.Attempts))
	}
	desc, err := c.DescribeWorkflowExecution(ctx, r.WorkflowID, "")
	if err != nil {
		return err
	}
	last := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	first := desc.GetWorkflowExecutionInfo().GetFirstRunId()
	if first != r.RunID || last == r.RunID {
		return fmt.Errorf("continued: runs %s .. %s from %s, want the workflow to have continued as new", first, last, r.RunID)
	}
	prev, err := c.DescribeWorkflowExecution(ctx, r.WorkflowID, r.RunID)
	if err != nil {
		return err
	}
	if st := prev.GetWorkflowExecutionInfo().GetStatus().String(); st != "ContinuedAsNew" {
		return fmt.Errorf("continued: run 1 ended %s, want ContinuedAsNew", st)
	}
	if err := show(srv.HostPort, r.WorkflowID, r.RunID, filepath.Join(dir, "event_continued_run1.json")); err != nil {
		return err
	}
	return show(srv.HostPort, r.WorkflowID, last, filepath.Join(dir, "event_continued_run2.json"))
}

func replayEvent(id, ws string) event.Event {
	return event.Event{
		ID: id, Type: event.StageChanged, Entity: "opportunity", Timestamp: "2026-03-31T14:30:00Z",
		Workspace: ws, Record: event.Values(map[string]any{"id": "opp-1", "name": "Sample deal"}),
		Changes: map[string]event.Change{"stage": event.ChangeOf("qualification", "proposal")},
	}
}

// startWorker starts a delivery worker with limiter lim that trusts the
// receivers' certificates, and returns its stop.
func startWorker(c client.Client, lim activities.Limiter, receivers ...*httptest.Server) (func(), error) {
	rs := make([]*devtest.Receiver, len(receivers))
	for i, r := range receivers {
		rs[i] = &devtest.Receiver{Server: r}
	}
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, Limiter: lim, HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(rs...)})})
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, err
	}
	return w.Stop, nil
}

// show writes one run's history as JSON.
func show(hostPort, workflowID, runID, path string) error {
	tp, err := devtest.TemporalPath()
	if err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(tp, "workflow", "show", "--address", hostPort, "-w", workflowID, "-r", runID, "-o", "json")
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd.Run()
}

// downFirst is a limiter that is unreachable for one workspace during
// down after that workspace first asks, like a Redis outage.
type downFirst struct {
	*limiter.Local
	workspace string
	down      time.Duration
	once      sync.Once
	until     time.Time
	mu        sync.Mutex
}

var errDown = errors.New("limiter unreachable (recorded outage)")

func (l *downFirst) isDown(ws string) bool {
	if ws != l.workspace {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.once.Do(func() { l.until = time.Now().Add(l.down) })
	return time.Now().Before(l.until)
}

func (l *downFirst) TryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	if l.isDown(ws) {
		return nil, false, errDown
	}
	return l.Local.TryAcquire(ctx, ws)
}

func (l *downFirst) Acquire(ctx context.Context, ws string, t limiter.Ticket) (func(), error) {
	if l.isDown(ws) {
		return nil, errDown
	}
	return l.Local.Acquire(ctx, ws, t)
}

// okReceiver is an HTTPS receiver that answers 200 to everything.
func okReceiver() *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
}
