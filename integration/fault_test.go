package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/tclient"
	"github.com/hari-crm/webhooks/workflows"
)

// ledger is a receiver's record per event: requests and the delivery ids
// they carried.
type ledger struct {
	mu       sync.Mutex
	requests map[string]int
	ids      map[string]map[string]bool
	ok       map[string]int
}

func newLedger() *ledger {
	return &ledger{requests: map[string]int{}, ids: map[string]map[string]bool{}, ok: map[string]int{}}
}

// record returns how many requests the event had before this one.
func (l *ledger) record(r *http.Request) (string, int) {
	id := r.Header.Get("X-Webhook-Id")
	ev, _, _ := strings.Cut(id, ":")
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.requests[ev]
	l.requests[ev]++
	if l.ids[ev] == nil {
		l.ids[ev] = map[string]bool{}
	}
	l.ids[ev][id] = true
	return ev, n
}

func (l *ledger) accepted(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ok[ev]++
}

func (l *ledger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.requests {
		n += c
	}
	return n
}

// check asserts every event was accepted at least once, always under one
// X-Webhook-Id, and reports the duplicates (at-least-once delivery).
func (l *ledger) check(t *testing.T, events []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	dups := 0
	for _, ev := range events {
		if l.ok[ev] == 0 {
			t.Errorf("event %s was never accepted by the receiver", ev)
		}
		if len(l.ids[ev]) != 1 {
			t.Errorf("event %s came with %d different X-Webhook-Id values", ev, len(l.ids[ev]))
		}
		dups += l.ok[ev] - 1
	}
	t.Logf("%d events, each accepted; %d duplicate acceptances (at-least-once, same X-Webhook-Id)", len(events), dups)
}

func publishIDs(t *testing.T, p *publisher.Publisher, prefix, ws, url string, from, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ids {
		ev := newEvent()
		ev.ID = fmt.Sprintf("%s-%03d", prefix, from+i)
		ev.Workspace = ws
		ids[i] = ev.ID
		wg.Add(1)
		sem <- struct{}{}
		go func(ev event.Event) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := p.Publish(context.Background(), workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: url}}}); err != nil {
				t.Errorf("publish %s: %v", ev.ID, err)
			}
		}(ev)
	}
	wg.Wait()
	return ids
}

func index(ev string) int {
	n, _ := strconv.Atoi(ev[strings.LastIndex(ev, "-")+1:])
	return n
}

// kill -9 the worker with 200 deliveries under way (some mid-POST, some
// between retries), start another: every delivery reaches its outcome.
func TestWorkerCrashLosesNothing(t *testing.T) {
	t.Parallel()
	l := newLedger()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		ev, before := l.record(r)
		switch i := index(ev); {
		case i%4 == 0 && before == 0: // will be between retries at the kill
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case i%4 == 1 && before == 0: // mid-POST at the kill
			select {
			case <-r.Context().Done():
				return
			case <-time.After(4 * time.Second):
			}
		}
		l.accepted(ev)
		w.WriteHeader(http.StatusOK)
	})
	e := newCLIEnv(t, rc)
	doomed := e.startWorker()
	p := publisher.New(tc, publisher.Options{AllowDirectSecrets: true, TaskQueue: e.queue(), DataConverter: codec.DataConverter(srv.Keys)})
	prefix := "crash" + uuid.NewString()[:6]

	done := make(chan []string)
	go func() { done <- publishIDs(t, p, prefix, "crash", rc.URL, 0, 200) }()
	deadline := time.Now().Add(30 * time.Second)
	for l.total() < 100 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = doomed.cmd.Process.Wait()
	t.Logf("killed the worker after %d requests", l.total())
	e.startWorker()
	ids := <-done
	waitAll(t, p, "crash", ids, 120*time.Second)
	l.check(t, ids)
}

// Stop and start the file-backed Temporal server in the middle of a run:
// deliveries resume and none is lost.
func TestServerRestartLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr, err := devtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "temporal.db")
	spec, _ := codec.NewKeySpec("restart")
	pragmas := []string{"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"}
	s1, err := devtest.StartServerAt(ctx, addr, db, spec, pragmas...)
	if err != nil {
		t.Fatal(err)
	}
	l := newLedger()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		ev, before := l.record(r)
		if before == 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // every delivery needs a retry
			return
		}
		l.accepted(ev)
		w.WriteHeader(http.StatusOK)
	})
	e := newCLIEnv(t, rc)
	for i, kv := range e.env {
		switch {
		case strings.HasPrefix(kv, "TEMPORAL_ADDRESS="):
			e.env[i] = "TEMPORAL_ADDRESS=" + addr
		case strings.HasPrefix(kv, "HARI_CODEC_KEYS="):
			e.env[i] = "HARI_CODEC_KEYS=" + spec
		}
	}
	e.startWorker()
	keys, _ := codec.ParseKeys(spec)
	c, err := tclient.Dial(tclient.Config{Address: addr, Namespace: "default", Keys: keys}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := publisher.New(c, publisher.Options{AllowDirectSecrets: true, TaskQueue: e.queue(), DataConverter: codec.DataConverter(keys)})
	prefix := "restart" + uuid.NewString()[:6]
	ids := publishIDs(t, p, prefix, "restart", rc.URL, 0, 40)
	for l.total() < 20 {
		time.Sleep(20 * time.Millisecond)
	}
	if err := s1.Dev.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped the server after %d requests", l.total())
	time.Sleep(time.Second)
	s2, err := devtest.StartServerAt(ctx, addr, db, spec, pragmas...)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s2.Dev.Stop()
	ids = append(ids, publishIDs(t, p, prefix, "restart", rc.URL, 40, 10)...)
	waitAll(t, p, "restart", ids, 120*time.Second)
	l.check(t, ids)
}
