//go:build ignore

// Command recordbusy records, with the code of commit c858827 (before
// continue-as-new existed), an event whose deliveries wait through rounds
// of a busy workspace: the limiter refuses the first slots, so both
// deliveries go round the wait-for-slot loop several times before their
// attempts. It builds only against that commit (hence the ignore tag):
//
//	git archive c858827 | tar -x -C /tmp/old && mkdir /tmp/old/internal/recordbusy
//	cp internal/recordhistory/recordbusy_c858827.go /tmp/old/internal/recordbusy/main.go
//	ln -s "$PWD/bin" /tmp/old/bin && cd /tmp/old
//	go run internal/recordbusy/main.go $OLDPWD/testdata/replay/event_busy_before_continue_as_new.json
//
// TestReplayBusyRoundsRecordedBeforeContinueAsNew replays the recording.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/workflows"
)

// busyLimiter has no free slot for first attempts, and refuses the first
// refusals waits for one; then every slot is free.
type busyLimiter struct {
	mu       sync.Mutex
	refusals int
}

func (l *busyLimiter) TryAcquire(context.Context, string) (func(), bool, error) {
	return nil, false, nil
}

func (l *busyLimiter) Acquire(ctx context.Context, ws string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refusals > 0 {
		l.refusals--
		return nil, errors.New("wait for a delivery slot of workspace " + ws + ": busy")
	}
	return func() {}, nil
}

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "recordbusy:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	ctx := context.Background()
	srv, err := devtest.NewServer(ctx, "")
	if err != nil {
		return err
	}
	defer srv.Dev.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.HostPort})
	if err != nil {
		return err
	}
	defer c.Close()
	var mu sync.Mutex
	n := 0
	flaky := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k <= 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer flaky.Close()
	ok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer ok.Close()
	tlsConf := devtest.TLSConfig(&devtest.Receiver{Server: flaky})
	tlsConf.RootCAs.AddCert(ok.Certificate())
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, Limiter: &busyLimiter{refusals: 6}, HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: tlsConf})})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	in := workflows.EventInput{
		Event: event.Event{
			ID: "replay-busy-1", Type: event.StageChanged, Entity: "opportunity", Timestamp: "2026-03-31T14:30:00Z",
			Workspace: "replay", Record: event.Values(map[string]any{"id": "opp-1", "name": "Sample deal"}),
			Changes: map[string]event.Change{"stage": event.ChangeOf("qualification", "proposal")},
		},
		Targets: []endpoint.Target{{ID: "flaky", URL: flaky.URL}, {ID: "ok", URL: ok.URL}},
	}
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true})
	if _, err := p.Publish(ctx, in); err != nil {
		return err
	}
	res, err := p.Wait(ctx, in.Event.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "result: %+v\n", res)
	tpath, err := devtest.TemporalPath()
	if err != nil {
		return err
	}
	cmd := exec.Command(tpath, "workflow", "show", "--address", srv.HostPort, "-w", workflows.WorkflowID(in.Event.ID), "-o", "json")
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	return cmd.Run()
}
