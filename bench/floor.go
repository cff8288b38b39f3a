package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/event"
)

// floorWorkflow is the least a durable workflow per event can do to make
// one delivery attempt: started eagerly (its first workflow task comes
// back with the start), one local activity that POSTs (one marker event),
// then it completes. No search attributes, no limiter, no query
// handlers; its payloads go through the bench's client, which has the
// codec (sealing costs this process, not the server): the server's cost
// of it is the floor of this design on the server (README, "CPU per
// delivery on both backends").
func floorWorkflow(ctx workflow.Context, in naiveInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: delivery.AttemptTimeout})
	return workflow.ExecuteLocalActivity(ctx, "NaivePost", in).Get(ctx, nil)
}

// runFloor runs floorWorkflow for n events through an in-process worker
// and eager start, as the API door starts ours.
func (e *env) runFloor(ctx context.Context, ws string, n int, delay time.Duration) (result, error) {
	return e.runInProcess(ctx, inProcess{
		label: "floor (eager start + 1 LA)", prefix: "floor", name: "FloorWebhook", workflow: floorWorkflow, eager: true,
		opts: worker.Options{MaxConcurrentWorkflowTaskPollers: 32, MaxConcurrentWorkflowTaskExecutionSize: 500, MaxConcurrentLocalActivityExecutionSize: 500},
	}, ws, n, delay)
}

// inProcess is a baseline whose worker runs in the bench's own process
// (naive, floor): its CPU is counted with the load generator's.
type inProcess struct {
	label, prefix, name string // the line's label; task queue and workflow ID prefix; workflow type
	workflow            any
	opts                worker.Options
	eager               bool
	// every, when set, publishes one event per every (scenario (d)'s
	// cadence) instead of as fast as the publishers can.
	every time.Duration
}

// runInProcess starts p's worker with the NaivePost activity and publishes
// n events as p's workflow through the bench's client.
func (e *env) runInProcess(ctx context.Context, p inProcess, ws string, n int, delay time.Duration) (result, error) {
	if err := e.fresh(ctx); err != nil {
		return result{}, err
	}
	queue := p.prefix + "-" + uuid.NewString()[:8]
	pool := x509.NewCertPool()
	pool.AddCert(e.rcv.srv.Certificate())
	hc := activities.NewHTTPClient(activities.ClientOptions{TLS: &tls.Config{RootCAs: pool}})
	w := worker.New(e.tc, queue, p.opts)
	w.RegisterWorkflowWithOptions(p.workflow, workflow.RegisterOptions{Name: p.name})
	w.RegisterActivityWithOptions(naivePost(hc), activityName("NaivePost"))
	if err := w.Start(); err != nil {
		return result{}, err
	}
	defer w.Stop()
	e.rcv.reset(delay)
	url := e.rcv.srv.URL + "/hook"
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = benchEvent(ws, i, queue)
	}
	cpu := e.cpuNow()
	pg := e.pgNow()
	steal := stealMS()
	var calls callTimes
	start := time.Now()
	sent, errs := publish(evs, *pubConc, p.every, calls.timed(func(ev event.Event) error {
		_, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: p.prefix + "-" + ev.ID, TaskQueue: queue, EnableEagerStart: p.eager}, p.name,
			naiveInput{URL: url, ID: ev.ID, Body: []byte(`{"event":"stage.changed"}`)})
		return err
	}))
	res, err := e.measure(p.label, evs, sent, start, errs, 10*time.Minute)
	res.cpu = cpuLine(res.n, cpu, e.cpuNow()) + pgLine(res.n, pg, e.pgNow()) + "\n        (its worker runs in the load generator)"
	if p.every > 0 {
		res.cpu += "\n" + e.split(evs, sent, &calls, steal)
	}
	return res, err
}
