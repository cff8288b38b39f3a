// Command recordhistory records the EventWorkflow history that the replay
// test in workflows/ checks: it starts a dev server and a worker without a
// codec, delivers one event to a receiver that answers 500, 500, 200 and to
// one that answers 404, and writes the history JSON. Run it again, on
// purpose, when a workflow change is meant to break replay:
//
//	go run ./internal/recordhistory testdata/replay/event_retries.json
//
// With "events" it records the current code's event histories, a delivery
// that retries and one that continues as new (see recordEvents):
//
//	go run ./internal/recordhistory events testdata/replay
//
// With "kept" it records a delivery whose round of waiting ran out with its
// place kept (see recordKeptPlace):
//
//	go run ./internal/recordhistory kept testdata/replay
//
// With "eventonly" it records an event started with only the event (see
// recordEventOnly):
//
//	go run ./internal/recordhistory eventonly testdata/replay/event_only_before_routing.json
//
// With "routed" it records, with the current code, events started with
// only the event that the workflow routes (see recordEventRouted):
//
//	go run ./internal/recordhistory routed testdata/replay
//
// With "routepaths" it records the regular-activity routing path and a
// routing failure (see recordRoutePaths):
//
//	go run ./internal/recordhistory routepaths testdata/replay
//
// With "recovery" it records a WebhookRecovery run and an event whose
// webhook is disabled (see recordRecovery):
//
//	go run ./internal/recordhistory recovery testdata/replay
//
// With "skipped" it records an event whose delivery to a disabled webhook
// was skipped and to an active one delivered (see recordSkipped):
//
//	go run ./internal/recordhistory skipped testdata/replay
//
// With "registry" it records a RegistryWorkflow run instead (see
// recordRegistry):
//
//	go run ./internal/recordhistory registry testdata/replay/registry_lifecycle.json
package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "recordhistory:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) == 3 && os.Args[1] == "registry" {
		return recordRegistry(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "events" {
		return recordEvents(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "kept" {
		return recordKeptPlace(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "eventonly" {
		return recordEventOnly(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "routed" {
		return recordEventRouted(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "routepaths" {
		return recordRoutePaths(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "recovery" {
		return recordRecovery(os.Args[2])
	}
	if len(os.Args) == 3 && os.Args[1] == "skipped" {
		return recordSkipped(os.Args[2])
	}
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: recordhistory OUTPUT.json | recordhistory registry OUTPUT.json | recordhistory events DIR | recordhistory kept DIR | recordhistory eventonly OUTPUT.json | recordhistory routed DIR | recordhistory routepaths DIR | recordhistory recovery DIR | recordhistory skipped DIR")
	}
	out, err := os.Create(os.Args[1])
	if err != nil {
		return err
	}
	defer out.Close()
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()

	n := 0
	flaky := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n++
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer flaky.Close()
	gone := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer gone.Close()

	tlsConf := devtest.TLSConfig(&devtest.Receiver{Server: flaky})
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: tlsConf})})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	in := workflows.EventInput{
		Event: event.Event{
			ID: "replay-event-1", Type: event.StageChanged, Entity: "opportunity", Timestamp: "2026-03-31T14:30:00Z",
			Workspace: "replay", Record: event.Values(map[string]any{"id": "opp-1", "name": "Sample deal"}),
			Changes: map[string]event.Change{"stage": event.ChangeOf("qualification", "proposal")},
		},
		Targets: []endpoint.Target{{ID: "flaky", URL: flaky.URL}, {ID: "gone", URL: gone.URL}},
	}
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true})
	if _, err := p.Publish(ctx, in); err != nil {
		return err
	}
	if _, err := p.Wait(ctx, in.Event.Workspace, in.Event.ID); err != nil {
		return err
	}
	path, err := devtest.TemporalPath()
	if err != nil {
		return err
	}
	cmd := exec.Command(path, "workflow", "show", "--address", srv.HostPort, "-w", workflows.WorkflowID(in.Event.Workspace, in.Event.ID), "-o", "json")
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd.Run()
}

// startServer starts a dev server (extra args: its dynamic config) and a
// plain client on it: no codec, so the recorded histories stay readable and
// replay without keys. stop ends both.
func startServer(ctx context.Context, extraArgs ...string) (srv *devtest.Server, c client.Client, stop func(), err error) {
	srv, err = devtest.NewServer(ctx, "", extraArgs...)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err = client.Dial(client.Options{HostPort: srv.HostPort})
	if err != nil {
		_ = srv.Dev.Stop()
		return nil, nil, nil, err
	}
	return srv, c, func() { c.Close(); _ = srv.Dev.Stop() }, nil
}
