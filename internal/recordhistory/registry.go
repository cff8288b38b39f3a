package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// recordRegistry records one run of a RegistryWorkflow that goes through
// every kind of write (two creates, an update that rotates a secret and
// changes conditions, a deactivation, a Test fire, its dismissal, a delete)
// and ends by continuing as new (the server is told to suggest it after a
// few dozen events), and writes that run's history JSON.
func recordRegistry(outPath string) error {
	ctx := context.Background()
	// Secrets are still sealed (the registry never holds plaintext).
	srv, c, stop, err := startServer(ctx, "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=60")
	if err != nil {
		return err
	}
	defer stop()

	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) }))
	defer rc.Close()
	tlsConf := devtest.TLSConfig(&devtest.Receiver{Server: rc})
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: tlsConf}), Secrets: srv.Keys})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	const ws = "replay"
	reg := registry.New(c, registry.Options{Sealer: srv.Keys})
	secret, rotated := "replay_secret_one", "replay_secret_two"
	erp := webhook.Spec{Config: webhook.Config{Name: "ERP", Entity: "opportunity", Events: []event.Type{event.StageChanged}, URL: rc.URL + "/erp", Fields: []string{"name", "amount"}}, Secret: &secret}
	crm := webhook.Spec{Config: webhook.Config{Name: "CRM sync", Entity: "contact", Events: []event.Type{event.RecordCreated, event.RecordUpdated}, URL: rc.URL + "/crm"}}
	a, err := reg.Create(ctx, ws, erp)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	b, err := reg.Create(ctx, ws, crm)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	d, err := c.DescribeWorkflowExecution(ctx, workflows.RegistryWorkflowID(ws), "")
	if err != nil {
		return err
	}
	firstRun := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	erp.Secret = &rotated
	erp.Config.Events = []event.Type{event.StageChanged, event.RecordUpdated}
	steps := []func() error{
		func() error { _, err := reg.Update(ctx, ws, a.ID, erp); return err },
		func() error { _, err := reg.SetActive(ctx, ws, b.ID, false); return err },
		func() error {
			res, err := reg.TestFire(ctx, ws, a.ID)
			if err == nil && res.StatusCode != 200 {
				err = fmt.Errorf("test fire: got status %d, want 200 (%s)", res.StatusCode, res.Error)
			}
			return err
		},
		func() error { return reg.DismissTest(ctx, ws, a.ID) },
		func() error { _, err := reg.TestFire(ctx, ws, a.ID); return err },
		func() error { return reg.Delete(ctx, ws, b.ID) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	// Writes until the first run continues as new.
	for n := 0; ; n++ {
		d, err := c.DescribeWorkflowExecution(ctx, workflows.RegistryWorkflowID(ws), firstRun)
		if err != nil {
			return err
		}
		if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			break
		}
		if n == 100 {
			return fmt.Errorf("the registry did not continue as new after %d more writes", n)
		}
		if _, err := reg.SetActive(ctx, ws, a.ID, n%2 == 0); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	path, err := devtest.TemporalPath()
	if err != nil {
		return err
	}
	cmd := exec.Command(path, "workflow", "show", "--address", srv.HostPort, "-w", workflows.RegistryWorkflowID(ws), "-r", firstRun, "-o", "json")
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd.Run()
}
