// Package service assembles the delivery worker: it registers the
// workflows and activities on a Temporal worker with their dependencies.
package service

import (
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/netguard"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/workflows"
)

// Options configure a delivery worker.
type Options struct {
	// TaskQueue defaults to workflows.TaskQueue.
	TaskQueue string
	// HTTPClient makes attempts; nil builds one with activities.NewHTTPClient.
	HTTPClient *http.Client
	// WorkspaceLimit bounds in-flight attempts per workspace (default 50).
	WorkspaceLimit int
	// Limiter overrides the in-process limiter (a shared one for several
	// workers).
	Limiter activities.Limiter
	// StopTimeout lets in-flight POSTs finish on shutdown (default 20 s).
	StopTimeout time.Duration
	// Secrets opens sealed webhook secrets (the codec key ring).
	Secrets activities.SecretOpener
	// Metrics records delivery metrics; nil records none.
	Metrics activities.Recorder
	// AttemptTimeout overrides the 15 s attempt timeout (tests only).
	AttemptTimeout time.Duration
	// Recovery finds and redelivers failed deliveries for recoveries
	// (publisher.Publisher); nil fails recoveries with the reason.
	Recovery activities.Recoverer
	// Router routes events started without targets, inside their
	// workflow; nil means the workspace registries on TaskQueue
	// (registry.Client, as the publisher routes).
	Router activities.Router
	// AllowDirectSecrets allows direct targets with a plaintext secret;
	// unset, they are refused (activities.Activities.AllowDirectSecrets).
	AllowDirectSecrets bool
	// DataConverter is the client's (codec.DataConverter): the default
	// Router decodes an ended registry's history with it to recover it.
	// Nil means Temporal's default.
	DataConverter converter.DataConverter
}

// NewWorker returns a worker, not yet started, with every workflow and
// activity registered. It also polls the Test fire queue
// (workflows.TestFireQueue of the task queue) with slots of its own.
func NewWorker(c client.Client, opts Options) (worker.Worker, error) {
	if c == nil {
		return nil, fmt.Errorf("new worker: nil temporal client")
	}
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 20 * time.Second
	}
	if opts.HTTPClient == nil {
		// Without an explicit client, the SSRF guard with no allow-list.
		opts.HTTPClient = activities.NewHTTPClient(activities.ClientOptions{Control: netguard.New(nil).Control})
	}
	lim := opts.Limiter
	if lim == nil {
		lim = limiter.NewLocal(opts.WorkspaceLimit)
	}
	router := opts.Router
	if router == nil {
		router = registry.New(c, registry.Options{TaskQueue: opts.TaskQueue, DataConverter: opts.DataConverter}).FailFast()
	}
	acts := &activities.Activities{Workflows: c, Router: router, AllowDirectSecrets: opts.AllowDirectSecrets, Client: opts.HTTPClient, Limiter: lim, Secrets: opts.Secrets, Metrics: opts.Metrics, AttemptTimeout: opts.AttemptTimeout,
		LocalTotal: workflowTaskSlots * 2 / 5, LocalPerWorkspace: localPerWorkspace(opts.WorkspaceLimit)}
	w := worker.New(c, opts.TaskQueue, worker.Options{
		// Most activities wait on I/O (an attempt against a receiver that
		// may hang 15 s, or a short wait for a workspace slot): goroutines,
		// cheap. Each busy workspace holds at most its limit in flight plus
		// 20 waiters per worker, so 5,000 slots take about 70 busy
		// workspaces before a quiet one's activity waits for a slot.
		MaxConcurrentActivityExecutionSize: 5000,
		// Local activities are the fast first attempts; the local gate
		// (acts.LocalTotal) keeps them well below the workflow-task slots
		// each of them holds.
		MaxConcurrentLocalActivityExecutionSize: workflowTaskSlots,
		MaxConcurrentWorkflowTaskExecutionSize:  workflowTaskSlots,
		// 32 workflow-task pollers: with 8, a burst of 1,000 starts left
		// matching 463 tasks behind and a quiet workspace's first tasks
		// waited 0.5 to 1.2 s; SDK-scaled pollers took so many at once that
		// they waited in the worker instead (scenario (e) of the bench).
		MaxConcurrentWorkflowTaskPollers: 32,
		MaxConcurrentActivityTaskPollers: 8,
		WorkerStopTimeout:                opts.StopTimeout,
	})
	w.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.RegistryWorkflow, workflow.RegisterOptions{Name: workflows.RegistryWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.RecoveryWorkflow, workflow.RegisterOptions{Name: workflows.RecoveryWorkflowName})
	w.RegisterActivity(acts)
	w.RegisterActivity(&activities.Recovery{Recoverer: opts.Recovery})

	// Test fire has a queue, pollers and slots of its own: an admin
	// waiting on the Settings page never queues behind deliveries.
	tw := worker.New(c, workflows.TestFireQueue(opts.TaskQueue), worker.Options{
		DisableWorkflowWorker:              true,
		MaxConcurrentActivityExecutionSize: 100,
		MaxConcurrentActivityTaskPollers:   2,
		WorkerStopTimeout:                  opts.StopTimeout,
	})
	tw.RegisterActivityWithOptions(acts.TestFire, activity.RegisterOptions{Name: workflows.TestFireActivity})
	return &pair{Worker: w, test: tw}, nil
}

// workflowTaskSlots is MaxConcurrentWorkflowTaskExecutionSize.
const workflowTaskSlots = 500

// pair is the delivery worker (registrations go to it) and the Test fire
// worker, started and stopped together.
type pair struct {
	worker.Worker
	test worker.Worker
}

func (p *pair) Start() error {
	if err := p.test.Start(); err != nil {
		return fmt.Errorf("start the test fire worker: %w", err)
	}
	if err := p.Worker.Start(); err != nil {
		p.test.Stop()
		return err
	}
	return nil
}

func (p *pair) Run(interruptCh <-chan interface{}) error {
	if err := p.Start(); err != nil {
		return err
	}
	<-interruptCh
	p.Stop()
	return nil
}

func (p *pair) Stop() {
	p.Worker.Stop()
	p.test.Stop()
}

// localPerWorkspace is how many fast first attempts of one workspace may
// run locally at once: its whole delivery limit. A healthy receiver under
// a bulk import then keeps the cheap path (7 history events, no task-queue
// trip); what hanging receivers can hold stays bounded by the gate's
// global cap and its reserve, and by the per-target slowness detection
// (a target not known to be fast gets only probes).
func localPerWorkspace(limit int) int {
	if limit <= 0 {
		return limiter.DefaultLimit
	}
	return limit
}
