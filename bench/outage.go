package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

var (
	nDown      = flag.Int("down", 20, "scenario (e): workspaces whose receivers hang")
	nDownEach  = flag.Int("down-events", 50, "scenario (e): events per hanging workspace")
	quietSec   = flag.Int("quiet", 40, "scenario (e): seconds the quiet workspace publishes 2 events/s")
	redisDown  = flag.Duration("redis-down", 60*time.Second, "scenario (e): how long Redis is stopped in the third run")
	dynConfig  = flag.String("dynamic-config", "", "extra dynamic config values of the dev server, comma-separated (KEY=VALUE)")
	outageRuns = flag.String("outage-runs", "api,client,redis", "scenario (e): runs to make: api, client, redis (through the API with Redis stopped)")
)

// hangingReceiver is an integration platform that is down: every request
// hangs until the client gives up. It counts requests per delivery.
type hangingReceiver struct {
	srv        *httptest.Server
	mu         sync.Mutex
	perID      map[string]int // delivery id -> requests
	inProgress atomic.Int64
	peak       atomic.Int64
}

func newHangingReceiver() *hangingReceiver {
	h := &hangingReceiver{perID: map[string]int{}}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.perID[r.Header.Get("X-Webhook-Id")]++
		h.mu.Unlock()
		n := h.inProgress.Add(1)
		for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
		}
		<-r.Context().Done()
		h.inProgress.Add(-1)
	}))
	h.srv.EnableHTTP2 = true
	h.srv.StartTLS()
	return h
}

func (h *hangingReceiver) requests(deliveryID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perID[deliveryID]
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// scenarioE is the outage: the receivers of many workspaces hang at once
// (a platform they all point at is down) while a quiet workspace publishes
// to a receiver that answers at once. It runs through the worker's API,
// through a remote Go client, and through the API with Redis stopped in
// the middle; each run ends with a reconciliation.
func scenarioE(ctx context.Context, e *env) error {
	fmt.Printf("(e) outage: %d workspaces whose receivers hang get %d events each; one quiet workspace publishes 2 events/s for %d s to a receiver that answers at once, and fires a Test\n",
		*nDown, *nDownEach, *quietSec)
	// Thousands of attempts time out: the workers' logs go to a file.
	logFile, err := os.Create(filepath.Join(e.dir, "outage-workers.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	e.workerLog = logFile
	defer func() { e.workerLog = nil }()
	var errs []error
	for _, run := range []struct {
		name      string
		viaAPI    bool
		redisDown time.Duration
	}{{"api", true, 0}, {"client", false, 0}, {"redis", true, *redisDown}} {
		if !strings.Contains(*outageRuns, run.name) {
			continue
		}
		if err := runOutage(ctx, e, run.viaAPI, run.redisDown); err != nil {
			fmt.Println("     ", err)
			errs = append(errs, err) // the next run still tells something
		}
	}
	fmt.Println()
	return errors.Join(errs...)
}

func runOutage(ctx context.Context, e *env, viaAPI bool, redisDown time.Duration) error {
	door := "via API"
	if !viaAPI {
		door = "via Go client"
	}
	name := "    " + door
	if redisDown > 0 {
		name += fmt.Sprintf(", Redis stopped %s", redisDown)
	}
	loadBefore := loadAvg()
	w, p, url, err := e.setup(ctx, 0, "HARI_REDIS_ADDR="+e.redis.Addr)
	if err != nil {
		return err
	}
	defer w.stop()
	hang := newHangingReceiver()
	defer hang.srv.Close()
	reg := registry.New(e.tc, registry.Options{Sealer: e.srv.Keys, TaskQueue: e.run})
	hook, err := reg.Create(ctx, "wsquiet", webhook.Spec{Config: webhook.Config{Name: "quiet", Entity: "opportunity", Events: []event.Type{event.StageChanged}, URL: url}})
	if err != nil {
		return fmt.Errorf("create the quiet workspace's webhook: %w", err)
	}
	send := func(ev event.Event, target string) error {
		targets := []endpoint.Target{{ID: "t", URL: target}}
		if viaAPI {
			return w.publishAPI(ctx, ev, targets)
		}
		_, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: targets})
		return err
	}

	down := make([]event.Event, *nDown**nDownEach)
	for i := range down {
		down[i] = benchEvent(fmt.Sprintf("wsdown%02d", i%*nDown), i, e.run)
	}
	var downSent map[string]time.Time
	var downErrs int
	var publishedAt atomic.Int64 // when the last hanging event was published
	published := make(chan struct{})
	go func() {
		downSent, downErrs = publish(down, *pubConc, 0, func(ev event.Event) error { return send(ev, hang.srv.URL+"/hook") })
		publishedAt.Store(time.Now().UnixNano())
		close(published)
	}()
	// The quiet workspace starts when the outage is in full swing.
	full := int64(min(500, len(down)/2))
	for deadline := time.Now().Add(2 * time.Minute); hang.inProgress.Load() < full; {
		if time.Now().After(deadline) {
			return fmt.Errorf("outage: only %d requests hang after 2 minutes", hang.inProgress.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	seconds := *quietSec
	if redisDown > 0 {
		seconds = max(seconds, int((redisDown+30*time.Second)/time.Second))
		go func() {
			time.Sleep(10 * time.Second)
			e.redis.Stop()
			time.Sleep(redisDown)
			if err := e.redis.Restart(); err != nil {
				fmt.Fprintln(os.Stderr, "bench: restart redis:", err)
			}
		}()
	}
	quiet := make([]event.Event, 2*seconds)
	for i := range quiet {
		quiet[i] = benchEvent("wsquiet", i, e.run)
	}
	var fireTook time.Duration
	var fireErr error
	fired := make(chan struct{})
	go func() {
		defer close(fired)
		time.Sleep(time.Duration(seconds/2) * time.Second)
		start := time.Now()
		var res workflows.TestResult
		res, fireErr = reg.TestFire(ctx, "wsquiet", hook.ID)
		fireTook = time.Since(start)
		if fireErr == nil && !res.Succeeded {
			fireErr = fmt.Errorf("test fire: %s", res.Error)
		}
	}()
	start := time.Now()
	stopSampling := make(chan struct{})
	printBacklog := e.backlogSampler(ctx, start, stopSampling)
	printCPU := cpuSampler(e, w, start, stopSampling)
	quietSent, quietErrs := publish(quiet, 0, 500*time.Millisecond, func(ev event.Event) error { return send(ev, url) })
	close(stopSampling)
	res, err := e.measure("quiet", quiet, quietSent, start, quietErrs, 10*time.Minute)
	if err != nil {
		return err
	}
	<-fired
	<-published
	// Split the quiet events: published while the hanging events were
	// still being published (a bulk start of 1,000 workflows, scenario
	// (b)'s subject), and after, during the outage proper.
	burstEnd := time.Unix(0, publishedAt.Load())
	var during, after []time.Duration
	e.rcv.mu.Lock()
	for id, at := range quietSent {
		if got, ok := e.rcv.got[id]; ok {
			if at.Before(burstEnd) {
				during = append(during, got.Sub(at))
			} else {
				after = append(after, got.Sub(at))
			}
		}
	}
	e.rcv.mu.Unlock()
	d50, d99 := percentiles(during)
	a50, a99 := percentiles(after)
	peakHang := hang.peak.Load()
	fmt.Printf("%s: quiet workspace %d events, latency p50 %.1f ms  p99 %.1f ms (during the hanging events' publishing, %d events: p50 %.1f ms p99 %.1f ms; after it, %d events: p50 %.1f ms p99 %.1f ms); Test fire %.0f ms",
		name, res.n, ms(res.p50), ms(res.p99), len(during), ms(d50), ms(d99), len(after), ms(a50), ms(a99), ms(fireTook))
	if fireErr != nil {
		fmt.Printf(" (FAILED: %v)", fireErr)
	}
	fmt.Printf("; %d attempts hung at once\n", peakHang)
	e.printSlowest(ctx, p, "wsquiet", quietSent, 3)
	printBacklog()
	printCPU()

	// Reconciliation: every event has its outcome in Temporal (none was
	// terminated or lost), every hanging delivery made its four attempts
	// and the receiver saw each of them.
	type outcome struct {
		status   string
		attempts int
	}
	outcomes := map[string]outcome{}
	var omu sync.Mutex
	next := make(chan event.Event)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range next {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				o, err := p.Wait(wctx, ev.Workspace, ev.ID)
				cancel()
				oc := outcome{status: "error: "}
				if err != nil {
					oc.status += err.Error()
				} else {
					oc = outcome{status: o.Deliveries[0].Status, attempts: len(o.Deliveries[0].Attempts)}
				}
				omu.Lock()
				outcomes[ev.ID] = oc
				omu.Unlock()
			}
		}()
	}
	for _, ev := range append(append([]event.Event(nil), down...), quiet...) {
		if _, ok := downSent[ev.ID]; ok {
			next <- ev
		} else if _, ok := quietSent[ev.ID]; ok {
			next <- ev
		}
	}
	close(next)
	wg.Wait()
	var lost, wrong []string
	failed, unseen, extra := 0, 0, 0
	for _, ev := range down {
		if _, ok := downSent[ev.ID]; !ok {
			continue
		}
		oc := outcomes[ev.ID]
		switch {
		case strings.HasPrefix(oc.status, "error"):
			lost = append(lost, ev.ID+" ("+oc.status+")")
		case oc.status != workflows.StatusFailed || oc.attempts != 4:
			wrong = append(wrong, fmt.Sprintf("%s (%s, %d attempts, %d requests)", ev.ID, oc.status, oc.attempts, hang.requests(workflows.DeliveryID(ev.ID, "t"))))
		default:
			failed++
			// An attempt can fail before it reaches the receiver (no
			// connection or stream within its timeout, or an activity
			// timed out): counted, not an error.
			// A request beyond the four attempts is a first attempt sent
			// again after its workflow task failed mid-attempt (a local
			// activity is re-run then): at least once, as documented.
			if n := hang.requests(workflows.DeliveryID(ev.ID, "t")); n < 4 {
				unseen += 4 - n
			} else {
				extra += n - 4
			}
		}
	}
	delivered := 0
	for _, ev := range quiet {
		if _, ok := quietSent[ev.ID]; !ok {
			continue
		}
		if oc := outcomes[ev.ID]; oc.status == workflows.StatusDelivered {
			delivered++
		} else {
			lost = append(lost, ev.ID+" ("+oc.status+")")
		}
	}
	fmt.Printf("      reconciliation: hanging %d published (%d publish errors), %d failed after 4 attempts (%d of those attempts never reached the receiver, %d requests more than attempts); quiet %d published (%d publish errors), %d delivered; %d lost or not ended, %d with other outcomes; worker peak RSS %d MiB; load average %s before, %s after\n",
		len(downSent), downErrs, failed, unseen, extra, len(quietSent), quietErrs, delivered, len(lost), len(wrong), w.peakRSS()/1024, loadBefore, loadAvg())
	for i, s := range append(lost, wrong...) {
		if i == 10 {
			fmt.Println("        ...")
			break
		}
		fmt.Println("       ", s)
	}
	if n := len(lost) + len(wrong) + downErrs + quietErrs; n > 0 {
		return fmt.Errorf("outage %s: reconciliation found %d differences", door, n)
	}
	return nil
}
