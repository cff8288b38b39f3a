package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// The outage case, short: the receivers of 12 workspaces hang (an
// integration platform they all point at is down) and each workspace
// publishes 50 events at once, 600 first attempts that would each hold a
// workflow-task slot for the whole attempt. Meanwhile a quiet workspace
// publishes 4 events a second to a receiver that answers at once. Its
// latency must not notice the outage, and a Test fire on it must answer
// at once. When the outage ends, every hanging delivery completes. (The
// quiet workspace starts once the 600 events are published: a burst of
// workflow starts through a remote client delays every workspace's first
// workflow task for a while, a separate matter measured by the benchmark.)
//
// The bound on the quiet p99 is its p99 just before the outage plus 2 s
// (and 5 s for the Test fire): unloaded it is tens of milliseconds, and
// before the worker gated its local first attempts, 600 hanging first
// attempts held all 500 workflow-task slots and every workflow task waited
// up to the 15 s attempt timeout. Measured against the same workspace on
// the same machine a moment earlier, a loaded 2-core CI machine (where the
// outage's retries compete for the CPU with everything else) does not
// fail it, and the old behaviour still fails clearly.
func TestOutageDoesNotSlowAQuietWorkspace(t *testing.T) {
	const (
		hangingWorkspaces = 12
		eventsEach        = 50
		attemptTimeout    = 15 * time.Second // the spec's: fewer retries churn on a small CI machine
	)
	// One platform for all of them, as in a real outage; HTTP/2, as such
	// platforms speak, so that the hanging attempts share connections.
	stop := make(chan struct{})
	var hangingHits atomic.Int64
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hangingHits.Add(1)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	platform := &devtest.Receiver{Server: hs}
	quiet := devtest.NewReceiver(t, nil)
	var once sync.Once
	outageEnds := func() { once.Do(func() { close(stop) }) } // the hanging receivers answer 200
	t.Cleanup(outageEnds)

	queue := "outage-" + uuid.NewString()[:8]
	w, err := service.NewWorker(tc, service.Options{AllowDirectSecrets: true,
		TaskQueue:      queue,
		HTTPClient:     activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(platform, quiet), Control: guard.Control}),
		Secrets:        srv.Keys,
		AttemptTimeout: attemptTimeout,
		StopTimeout:    time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	p := publisher.New(tc, publisher.Options{AllowDirectSecrets: true, TaskQueue: queue, DataConverter: codec.DataConverter(srv.Keys), Hosts: guard})
	r := registry.New(tc, registry.Options{Sealer: srv.Keys, TaskQueue: queue, Hosts: guard})
	ctx := context.Background()

	quietWS := "quiet-" + uuid.NewString()[:6]
	hook, err := r.Create(ctx, quietWS, webhook.Spec{Config: webhook.Config{Name: "quiet", Entity: "opportunity", Events: []event.Type{event.StageChanged}, URL: quiet.URL}})
	if err != nil {
		t.Fatal(err)
	}

	// The quiet workspace before the outage: the baseline on this machine.
	base := quietPhase(t, p, r, quiet, quietWS, hook.ID)
	t.Logf("quiet workspace before the outage: %s", base)
	if base.fireErr != nil {
		t.Fatalf("Test fire before the outage: %v", base.fireErr)
	}

	// The outage: 600 events at once, 32 publishers.
	type published struct{ ws, id string }
	var hangingIDs []published
	var mu sync.Mutex
	jobs := make(chan int)
	var pubs sync.WaitGroup
	for range 32 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range jobs {
				ev := newEvent()
				ev.Workspace = fmt.Sprintf("down-%d-%s", i%hangingWorkspaces, queue)
				if _, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: platform.URL + "/" + ev.Workspace}}}); err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				hangingIDs = append(hangingIDs, published{ev.Workspace, ev.ID})
				mu.Unlock()
			}
		}()
	}
	go func() {
		for i := range hangingWorkspaces * eventsEach {
			jobs <- i
		}
		close(jobs)
	}()
	// Wait until the outage is in full swing: every event published (a
	// burst of 600 workflow starts is another matter, scenario (b) of the
	// benchmark) and hundreds of attempts hang.
	pubs.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for hangingHits.Load() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests reached the hanging receivers within 60 s", hangingHits.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}

	outage := quietPhase(t, p, r, quiet, quietWS, hook.ID)
	t.Logf("quiet workspace during the outage of %d workspaces: %s", hangingWorkspaces, outage)
	if outage.fireErr != nil {
		t.Errorf("Test fire on the quiet workspace during the outage: %v; want a success", outage.fireErr)
	}
	// The bounds are relative to the same workspace just before the outage
	// on the same machine, so that a loaded CI machine does not fail the
	// test, while the old behaviour (first attempts waiting for workflow-
	// task slots held by hanging attempts: up to the 15 s attempt timeout)
	// does.
	if limit := base.p99 + 2*time.Second; outage.p99 > limit {
		t.Errorf("quiet workspace p99 %s during the outage, want under %s (its p99 before the outage + 2 s)", outage.p99, limit)
	}
	if limit := base.fire + 5*time.Second; outage.fire > limit {
		t.Errorf("Test fire on the quiet workspace answered in %s during the outage, want under %s (before the outage + 5 s)", outage.fire, limit)
	}

	// The outage ends: nothing was lost, every hanging delivery completes
	// (delivered now, or failed after its four attempts).
	outageEnds()
	if len(hangingIDs) != hangingWorkspaces*eventsEach {
		t.Fatalf("published %d hanging events, want %d", len(hangingIDs), hangingWorkspaces*eventsEach)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	bad := 0
	for _, h := range hangingIDs {
		id := h.id
		o, err := p.Wait(wctx, h.ws, id)
		if err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		d := o.Deliveries[0]
		if d.Status != workflows.StatusDelivered && (d.Status != workflows.StatusFailed || len(d.Attempts) != delivery.MaxAttempts) {
			if bad++; bad <= 3 {
				t.Errorf("hanging event %s: %s after %d attempts (%s), want delivered, or failed after %d", id, d.Status, len(d.Attempts), d.Error, delivery.MaxAttempts)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d hanging deliveries neither delivered nor failed after %d attempts", bad, len(hangingIDs), delivery.MaxAttempts)
	}
}

// quietFigures are the quiet workspace's latencies in one phase.
type quietFigures struct {
	n        int
	p50, p99 time.Duration
	fire     time.Duration
	fireErr  error
}

func (f quietFigures) String() string {
	s := fmt.Sprintf("%d events, p50 %s, p99 %s; Test fire answered in %s", f.n, f.p50.Round(time.Millisecond), f.p99.Round(time.Millisecond), f.fire.Round(time.Millisecond))
	if f.fireErr != nil {
		s += fmt.Sprintf(" (%v)", f.fireErr)
	}
	return s
}

// quietPhase publishes 4 events a second for 10 s in the quiet workspace,
// with a Test fire in the middle, and measures publish-to-receipt latency.
func quietPhase(t *testing.T, p *publisher.Publisher, r *registry.Client, quiet *devtest.Receiver, ws, hookID string) quietFigures {
	t.Helper()
	ctx := context.Background()
	before := len(quiet.Hits())
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var wg sync.WaitGroup
	var f quietFigures
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := range 40 {
		<-tick.C
		if i == 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				res, err := r.TestFire(ctx, ws, hookID)
				f.fire = time.Since(start)
				if err == nil && !res.Succeeded {
					err = fmt.Errorf("test fire: %s", res.Error)
				}
				f.fireErr = err
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := newEvent()
			ev.Workspace = ws
			at := time.Now()
			if _, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "q", URL: quiet.URL}}}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			sent[ev.ID] = at
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := before + len(sent)
	if f.fireErr == nil {
		want++ // the Test fire
	}
	quiet.WaitHits(t, want, 30*time.Second)
	var lat []time.Duration
	for _, h := range quiet.Hits() {
		id, _, _ := strings.Cut(h.Header.Get("X-Webhook-Id"), ":")
		if at, ok := sent[id]; ok {
			lat = append(lat, h.At.Sub(at))
		}
	}
	if len(lat) != len(sent) {
		t.Fatalf("the quiet receiver got %d of %d events", len(lat), len(sent))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	f.n, f.p50, f.p99 = len(lat), lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	return f
}
