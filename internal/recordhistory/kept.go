package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/workflows"
)

// recordKeptPlace records, with the current code, into dir
// event_kept_place.json: a delivery whose workspace is at its limit; its
// first round of DeliverWebhook runs out with its place kept (the short
// timer follows), and the second round gets the slot and delivers.
func recordKeptPlace(dir string) error {
	ctx := context.Background()
	srv, c, stop, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	ok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer ok.Close()
	lim := &keptFirst{Local: limiter.NewLocal(50), workspace: "replay-keep"}
	stopWorker, err := startWorker(c, lim, ok)
	if err != nil {
		return err
	}
	defer stopWorker()
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true})
	in := workflows.EventInput{
		Event:   replayEvent("replay-event-4", "replay-keep"),
		Targets: []endpoint.Target{{ID: "keeps", URL: ok.URL}},
	}
	r, err := p.Publish(ctx, in)
	if err != nil {
		return err
	}
	o, err := p.Wait(ctx, in.Event.Workspace, in.Event.ID)
	if err != nil {
		return err
	}
	if d := o.Deliveries[0]; d.Status != workflows.StatusDelivered || len(d.Attempts) != 1 {
		return fmt.Errorf("kept place: ended %s with %d attempts, want delivered at attempt 1", d.Status, len(d.Attempts))
	}
	if n := lim.keptRounds(); n != 1 {
		return fmt.Errorf("kept place: %d rounds ran out with their place kept, want 1", n)
	}
	return show(srv.HostPort, r.WorkflowID, r.RunID, filepath.Join(dir, "event_kept_place.json"))
}

// keptFirst is a limiter whose workspace is at its limit for the first
// attempt and the first round of waiting: that round runs out with its
// place kept, as limiter.Redis and limiter.Local report it.
type keptFirst struct {
	*limiter.Local
	workspace string
	mu        sync.Mutex
	tries     int
	kept      int
}

func (l *keptFirst) TryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	if ws == l.workspace {
		return nil, false, nil
	}
	return l.Local.TryAcquire(ctx, ws)
}

func (l *keptFirst) Acquire(ctx context.Context, ws string, t limiter.Ticket) (func(), error) {
	if ws != l.workspace {
		return l.Local.Acquire(ctx, ws, t)
	}
	l.mu.Lock()
	l.tries++
	n := l.tries
	l.mu.Unlock()
	switch {
	case n == 1: // the first attempt's short wait
		return nil, fmt.Errorf("%w", context.DeadlineExceeded)
	case n == 2 && t.Hold > 0: // DeliverWebhook's first round
		l.mu.Lock()
		l.kept++
		l.mu.Unlock()
		return nil, fmt.Errorf("%w (%w)", context.DeadlineExceeded, limiter.ErrPlaceKept)
	}
	return l.Local.Acquire(ctx, ws, t)
}

func (l *keptFirst) keptRounds() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kept
}
