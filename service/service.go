// Package service assembles the delivery worker: it registers the
// workflows and activities on a Temporal worker with their dependencies.
package service

import (
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/netguard"
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
}

// NewWorker returns a worker, not yet started, with every workflow and
// activity registered.
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
	w := worker.New(c, opts.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:      1000,
		MaxConcurrentLocalActivityExecutionSize: 1000,
		MaxConcurrentWorkflowTaskExecutionSize:  500,
		MaxConcurrentWorkflowTaskPollers:        8,
		MaxConcurrentActivityTaskPollers:        8,
		WorkerStopTimeout:                       opts.StopTimeout,
	})
	w.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.RegistryWorkflow, workflow.RegisterOptions{Name: workflows.RegistryWorkflowName})
	w.RegisterActivity(&activities.Activities{Workflows: c, Client: opts.HTTPClient, Limiter: lim, Secrets: opts.Secrets, Metrics: opts.Metrics, AttemptTimeout: opts.AttemptTimeout})
	return w, nil
}
