// Command bench measures the delivery pipeline against a real Temporal dev
// server with file persistence (the configuration `make run` uses), a real
// Redis and local HTTPS receivers, and prints every figure in one run:
//
//	go run ./bench            (or: make bench)
//
// Scenarios: (a) one workspace, N events, receiver answering in 50 ms:
// ours (Redis limiter), ours without a limit, a naive baseline (one
// workflow and one plain activity per delivery) and a bare Go HTTP sender;
// (b) a bulk import in workspace A while workspace B publishes a few
// events; (c) two worker processes sharing the Redis limiter against a slow
// receiver; (d) light load, 10 events/s; (e) an outage: the receivers of
// 20 workspaces hang while a quiet workspace publishes (bench/outage.go).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/api/token"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/internal/redistest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/tclient"
	"github.com/hari-crm/webhooks/workflows"
)

var (
	nA       = flag.Int("a", 2000, "scenario (a): events")
	nBulk    = flag.Int("bulk", 5000, "scenario (b): workspace A's bulk import")
	nB       = flag.Int("b", 100, "scenario (b): workspace B's events")
	nC       = flag.Int("c", 600, "scenario (c): events against the slow receiver")
	lightSec = flag.Int("light", 30, "scenario (d): seconds at 10 events/s")
	pubConc  = flag.Int("publishers", 32, "concurrent publishers")
	only     = flag.String("only", "abcde", "scenarios to run: a, b, c, d, e, and L (the load and reconciliation run of `make soak`)")
	nLoad    = flag.Int("load", 10000, "scenario L: events")
	bDoor    = flag.String("b-door", "api", "scenario (b): how both workspaces publish: api (the worker's HTTP API, eager start) or client (a remote Go client through the publisher package)")
	aRuns    = flag.String("a-runs", "api,nolimit,client,naive,bare,floor", "scenario (a): lines to run: api (Redis limiter), nolimit, client (remote Go client), naive, bare, floor (the least a workflow per event costs: eager start, one local activity); the ratios need the first five")
	backend  = flag.String("backend", "sqlite", "sqlite: the dev server on SQLite, as `make run`; postgres: the Temporal server on PostgreSQL, as `make stack` (needs `make stack-bins`)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// receiver is an HTTPS endpoint that records, per event, when it arrived
// and, per workspace, how many requests were in progress at once.
type receiver struct {
	srv   *httptest.Server
	delay atomic.Int64 // ns, per request
	mu    sync.Mutex
	got   map[string]time.Time // event id -> first arrival
	now   map[string]int       // workspace -> in progress
	peak  map[string]int
	count atomic.Int64
}

func newReceiver() *receiver {
	r := &receiver{got: map[string]time.Time{}, now: map[string]int{}, peak: map[string]int{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.handle))
	r.srv.EnableHTTP2 = true
	r.srv.StartTLS()
	return r
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	_, _ = io.Copy(io.Discard, req.Body)
	ws := req.Header.Get("X-Bench-Workspace")
	if ws == "" {
		ws = wsOf(req.Header.Get("X-Webhook-Id"))
	}
	id, _, _ := strings.Cut(req.Header.Get("X-Webhook-Id"), ":")
	r.mu.Lock()
	if _, ok := r.got[id]; !ok {
		r.got[id] = at
	}
	r.now[ws]++
	if r.now[ws] > r.peak[ws] {
		r.peak[ws] = r.now[ws]
	}
	r.mu.Unlock()
	r.count.Add(1)
	time.Sleep(time.Duration(r.delay.Load()))
	r.mu.Lock()
	r.now[ws]--
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Event ids are "<workspace>.<n>" so the receiver knows the workspace.
func wsOf(deliveryID string) string {
	id, _, _ := strings.Cut(deliveryID, ":")
	ws, _, _ := strings.Cut(id, ".")
	return ws
}

func (r *receiver) reset(delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got, r.now, r.peak = map[string]time.Time{}, map[string]int{}, map[string]int{}
	r.count.Store(0)
	r.delay.Store(int64(delay))
}

func (r *receiver) waitFor(ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := 0
		for _, id := range ids {
			if _, ok := r.got[id]; ok {
				n++
			}
		}
		r.mu.Unlock()
		if n == len(ids) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("only part of %d deliveries arrived within %s", len(ids), timeout)
}

// result of one run of a workload.
type result struct {
	name        string
	n           int
	elapsed     time.Duration
	p50, p99    time.Duration
	peak        map[string]int
	rssKB       int64
	publishErrs int
	// cpu is the CPU time per delivery of each process (cpuLine).
	cpu string
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) String() string {
	s := fmt.Sprintf("%-28s %6d deliveries in %7.2fs = %7.1f/s   latency p50 %6.1f ms  p99 %7.1f ms", r.name, r.n, r.elapsed.Seconds(), r.rate(), ms(r.p50), ms(r.p99))
	if len(r.peak) > 0 {
		keys := make([]string, 0, len(r.peak))
		for k := range r.peak {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.peak[k]))
		}
		s += "   peak concurrency " + strings.Join(parts, " ")
	}
	if r.rssKB > 0 {
		s += fmt.Sprintf("   worker peak RSS %d MiB", r.rssKB/1024)
	}
	if r.publishErrs > 0 {
		s += fmt.Sprintf("   PUBLISH ERRORS %d", r.publishErrs)
	}
	if r.cpu != "" {
		s += "\n        " + r.cpu
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func percentiles(d []time.Duration) (time.Duration, time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return at(0.50), at(0.99)
}

type env struct {
	run  string // the current measurement's id, part of its event ids
	runs int
	dir  string
	srv  *devtest.Server
	// stack is the PostgreSQL backend's server (-backend postgres).
	stack     *devtest.Stack
	tc        client.Client
	rcv       *receiver
	redis     *redistest.Server
	workerBin string
	certFile  string
	// workerLog, when set, takes the workers' logs instead of stderr.
	workerLog io.Writer
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hari-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Println("HARi webhooks benchmark")
	switch *backend {
	case "sqlite":
		fmt.Printf("machine: %d CPUs; Temporal dev server with file persistence (SQLite WAL, synchronous=normal), as `make run`\n\n", numCPU())
	case "postgres":
		fmt.Printf("machine: %d CPUs; Temporal server 1.29.1 on PostgreSQL (a fresh cluster per measurement), as `make stack`\n\n", numCPU())
	default:
		return fmt.Errorf("-backend %q: want sqlite or postgres", *backend)
	}
	rs, err := redistest.StartProcess()
	if err != nil {
		return err
	}
	defer rs.Stop()
	rcv := newReceiver()
	defer rcv.srv.Close()
	certFile := filepath.Join(dir, "receiver.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.srv.Certificate().Raw}), 0o644); err != nil {
		return err
	}
	workerBin := filepath.Join(dir, "worker")
	root, err := devtest.Root()
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", workerBin, "./worker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build worker: %v\n%s", err, out)
	}
	e := &env{dir: dir, rcv: rcv, redis: rs, workerBin: workerBin, certFile: certFile}
	defer e.close()

	if strings.Contains(*only, "a") {
		if err := scenarioA(ctx, e); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "b") {
		if err := scenarioB(ctx, e); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "c") {
		if err := scenarioC(ctx, e); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "d") {
		if err := scenarioD(ctx, e); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "e") {
		if err := scenarioE(ctx, e); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "L") {
		if err := scenarioLoad(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// fresh replaces the dev server with a new one on a new database file, so
// that every measurement starts from the same state.
func (e *env) fresh(ctx context.Context) error {
	e.close()
	e.runs++
	if *backend == "postgres" {
		st, err := devtest.StartStackWith(ctx, devtest.StackOptions{ServerOnly: true, Prefix: "stack-bench-"})
		if err != nil {
			return err
		}
		tc, err := tclient.Dial(tclient.Config{Address: st.Server.HostPort, Namespace: "default", Keys: st.Server.Keys}, zerolog.Nop())
		if err != nil {
			st.Stop()
			return err
		}
		e.stack, e.srv, e.tc = st, st.Server, tc
		return nil
	}
	args := []string{"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"}
	for _, v := range strings.Split(*dynConfig, ",") {
		if v != "" {
			args = append(args, "--dynamic-config-value", v)
		}
	}
	srv, err := devtest.NewServer(ctx, filepath.Join(e.dir, fmt.Sprintf("temporal-%d.db", e.runs)), args...)
	if err != nil {
		return err
	}
	tc, err := tclient.Dial(tclient.Config{Address: srv.HostPort, Namespace: "default", Keys: srv.Keys}, zerolog.Nop())
	if err != nil {
		_ = srv.Dev.Stop()
		return err
	}
	e.srv, e.tc = srv, tc
	return nil
}

func (e *env) close() {
	if e.tc != nil {
		e.tc.Close()
		e.tc = nil
	}
	if e.stack != nil {
		e.stack.Stop()
		e.stack, e.srv = nil, nil
	}
	if e.srv != nil {
		_ = e.srv.Dev.Stop()
		e.srv = nil
	}
}

// workerProc is a worker binary run as its own process.
type workerProc struct {
	cmd     *exec.Cmd
	addr    string
	stopped sync.Once
}

var apiClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// The worker runs as in production: the API takes signed tokens (the
// bench publishes with a service token, as a HARi service would) and the
// codec endpoint a token.
var apiKeySpec, serviceToken = func() (string, string) {
	spec, err := token.NewKeySpec("bench")
	if err != nil {
		panic(err)
	}
	keys, err := token.ParseKeys(spec)
	if err != nil {
		panic(err)
	}
	tok, err := keys.MintService(24 * time.Hour)
	if err != nil {
		panic(err)
	}
	return spec, tok
}()

// publishAPI publishes through the worker's HTTP API: the worker's own
// client starts the workflow, with eager workflow start (the first
// workflow task comes back with the start, skipping the task queue).
func (w *workerProc) publishAPI(ctx context.Context, ev event.Event, targets []endpoint.Target) error {
	body, err := json.Marshal(struct {
		event.Event
		Targets []endpoint.Target `json:"targets"`
	}{ev, targets})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+w.addr+"/api/v1/workspaces/"+url.PathEscape(ev.Workspace)+"/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+serviceToken)
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("publish through the API: HTTP %d %s", resp.StatusCode, b)
	}
	return nil
}

func (e *env) startWorker(queue string, extra ...string) (*workerProc, error) {
	addr, err := devtest.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.workerBin, "-http", addr, "-log-level", envOr("BENCH_WORKER_LOG", "warn"))
	cmd.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+e.srv.HostPort, "HARI_CODEC_KEYS="+e.srv.KeySpec, "HARI_TASK_QUEUE="+queue,
		"SSL_CERT_FILE="+e.certFile, "HARI_ALLOW_CIDRS=127.0.0.1/32",
		"HARI_API_KEYS="+apiKeySpec, "HARI_CODEC_TOKEN=bench-codec-token",
		"HARI_ALLOW_DIRECT_TARGETS=1") // the scenarios publish direct targets
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	if e.workerLog != nil {
		cmd.Stderr = e.workerLog
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &workerProc{cmd: cmd, addr: addr}, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("worker did not start")
}

// peakRSS reads VmHWM (peak resident set) of the process, in KiB.
func (w *workerProc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// stop stops the worker (once: later calls do nothing).
func (w *workerProc) stop() {
	w.stopped.Do(w.interrupt)
}

func (w *workerProc) interrupt() {
	_ = w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _, _ = w.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
	}
}

func benchEvent(ws string, i int, run string) event.Event {
	return event.Event{
		ID: fmt.Sprintf("%s.%s-%d", ws, run, i), Type: event.StageChanged, Entity: "opportunity", Timestamp: "2026-03-31T14:30:00Z", Workspace: ws,
		Record:  event.Values(map[string]any{"id": fmt.Sprintf("opp-%d", i), "name": "Bench deal", "amount": 48000, "owner": "Vincent"}),
		Changes: map[string]event.Change{"stage": event.ChangeOf("Proposal", "Closed Won")},
	}
}

// publish sends events through fn with c concurrent publishers, or at a
// fixed rate when every > 0, and records publish times.
func publish(evs []event.Event, c int, every time.Duration, fn func(event.Event) error) (map[string]time.Time, int) {
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(evs))
	var errs atomic.Int64
	if every > 0 {
		var wg sync.WaitGroup
		tick := time.NewTicker(every)
		defer tick.Stop()
		for _, ev := range evs {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := time.Now()
				if err := fn(ev); err != nil {
					errs.Add(1)
					fmt.Fprintln(os.Stderr, "publish:", err)
					return
				}
				mu.Lock()
				sent[ev.ID] = at
				mu.Unlock()
			}()
		}
		wg.Wait()
		return sent, int(errs.Load())
	}
	next := make(chan event.Event)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range next {
				at := time.Now()
				if err := fn(ev); err != nil {
					errs.Add(1)
					fmt.Fprintln(os.Stderr, "publish:", err)
					continue
				}
				mu.Lock()
				sent[ev.ID] = at
				mu.Unlock()
			}
		}()
	}
	for _, ev := range evs {
		next <- ev
	}
	close(next)
	wg.Wait()
	return sent, int(errs.Load())
}

// measure waits for the events and computes the result.
func (e *env) measure(name string, evs []event.Event, sent map[string]time.Time, start time.Time, errs int, timeout time.Duration) (result, error) {
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		if _, ok := sent[ev.ID]; ok {
			ids = append(ids, ev.ID)
		}
	}
	if err := e.rcv.waitFor(ids, timeout); err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	e.rcv.mu.Lock()
	defer e.rcv.mu.Unlock()
	var lat []time.Duration
	var last time.Time
	for _, id := range ids {
		got := e.rcv.got[id]
		lat = append(lat, got.Sub(sent[id]))
		if got.After(last) {
			last = got
		}
	}
	p50, p99 := percentiles(lat)
	peak := map[string]int{}
	for k, v := range e.rcv.peak {
		peak[k] = v
	}
	return result{name: name, n: len(ids), elapsed: last.Sub(start), p50: p50, p99: p99, peak: peak, publishErrs: errs}, nil
}

// setup gives a measurement a fresh server, a worker on its own task
// queue, a publisher for that queue and the receiver's URL, answering
// after delay.
func (e *env) setup(ctx context.Context, delay time.Duration, workerEnv ...string) (*workerProc, *publisher.Publisher, string, error) {
	if err := e.fresh(ctx); err != nil {
		return nil, nil, "", err
	}
	queue := "bench-" + uuid.NewString()[:8]
	e.run = queue
	w, err := e.startWorker(queue, workerEnv...)
	if err != nil {
		return nil, nil, "", err
	}
	e.rcv.reset(delay)
	return w, e.oursPublisher(queue), e.rcv.srv.URL + "/hook", nil
}

// oursPublisher publishes the bench's direct targets, plaintext secrets
// included: the bench's workers run with HARI_ALLOW_DIRECT_TARGETS=1.
func (e *env) oursPublisher(queue string) *publisher.Publisher {
	return publisher.New(e.tc, publisher.Options{TaskQueue: queue, DataConverter: codec.DataConverter(e.srv.Keys), AllowDirectSecrets: true})
}

func (e *env) runOurs(ctx context.Context, name, ws string, n int, delay time.Duration, viaAPI bool, workerEnv ...string) (result, error) {
	w, p, url, err := e.setup(ctx, delay, workerEnv...)
	if err != nil {
		return result{}, err
	}
	defer w.stop()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = benchEvent(ws, i, e.run)
	}
	pg := e.pgNow()
	cpu := e.cpuNow(w)
	start := time.Now()
	targets := []endpoint.Target{{ID: "t", URL: url, Secret: "bench-secret-2026"}}
	sent, errs := publish(evs, *pubConc, 0, func(ev event.Event) error {
		if viaAPI {
			return w.publishAPI(ctx, ev, targets)
		}
		_, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: targets})
		return err
	})
	res, err := e.measure(name, evs, sent, start, errs, 10*time.Minute)
	res.rssKB = w.peakRSS()
	res.cpu = cpuLine(res.n, cpu, e.cpuNow(w)) + pgLine(res.n, pg, e.pgNow())
	return res, err
}

// The naive baseline: one workflow, one plain activity per delivery.
type naiveInput struct {
	URL, ID string
	Body    []byte
}

func naiveWorkflow(ctx workflow.Context, in naiveInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: delivery.AttemptTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 4},
	})
	return workflow.ExecuteActivity(ctx, "NaivePost", in).Get(ctx, nil)
}

// naivePost is the baselines' delivery attempt: one POST, no signature.
func naivePost(hc *http.Client) func(context.Context, naiveInput) error {
	return func(ctx context.Context, in naiveInput) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(string(in.Body)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Id", in.ID+":t")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		_ = activity.GetInfo(ctx)
		return nil
	}
}

func activityName(name string) activity.RegisterOptions { return activity.RegisterOptions{Name: name} }

func (e *env) runNaive(ctx context.Context, ws string, n int, delay time.Duration) (result, error) {
	return e.runInProcess(ctx, inProcess{
		label: "naive (workflow+activity)", prefix: "naive", name: "NaiveWebhook", workflow: naiveWorkflow,
		opts: worker.Options{MaxConcurrentActivityExecutionSize: 1000},
	}, ws, n, delay)
}

func (e *env) runBare(ws string, n int, delay time.Duration) (result, error) {
	pool := x509.NewCertPool()
	pool.AddCert(e.rcv.srv.Certificate())
	hc := activities.NewHTTPClient(activities.ClientOptions{TLS: &tls.Config{RootCAs: pool}})
	e.rcv.reset(delay)
	url := e.rcv.srv.URL + "/hook"
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = benchEvent(ws, i, "bare")
	}
	start := time.Now()
	sent, errs := publish(evs, 50, 0, func(ev event.Event) error {
		a := activities.Send(context.Background(), hc, activities.Request{URL: url, Body: []byte(`{"event":"stage.changed"}`), DeliveryID: ev.ID + ":t", Attempt: 1})
		if !a.Succeeded() {
			return fmt.Errorf("%s", a.Error)
		}
		return nil
	})
	return e.measure("bare Go HTTP sender (50 conc.)", evs, sent, start, errs, 5*time.Minute)
}

func scenarioA(ctx context.Context, e *env) error {
	fmt.Printf("(a) one workspace, %d events, receiver answers in 50 ms\n", *nA)
	want := map[string]bool{}
	for _, r := range strings.Split(*aRuns, ",") {
		want[strings.TrimSpace(r)] = true
	}
	redisEnv := []string{"HARI_REDIS_ADDR=" + e.redis.Addr}
	lines := []struct {
		key string
		run func() (result, error)
	}{
		{"api", func() (result, error) {
			return e.runOurs(ctx, "ours via API (Redis limiter)", "wsa", *nA, 50*time.Millisecond, true, redisEnv...)
		}},
		{"nolimit", func() (result, error) {
			return e.runOurs(ctx, "ours via API, no limiter", "wsa", *nA, 50*time.Millisecond, true, "HARI_WORKSPACE_LIMIT=1000000")
		}},
		{"client", func() (result, error) {
			return e.runOurs(ctx, "ours via Go client (Redis)", "wsa", *nA, 50*time.Millisecond, false, redisEnv...)
		}},
		{"naive", func() (result, error) { return e.runNaive(ctx, "wsa", *nA, 50*time.Millisecond) }},
		{"bare", func() (result, error) { return e.runBare("wsa", *nA, 50*time.Millisecond) }},
		{"floor", func() (result, error) { return e.runFloor(ctx, "wsa", *nA, 50*time.Millisecond) }},
	}
	got := map[string]result{}
	for _, l := range lines {
		if !want[l.key] {
			continue
		}
		res, err := l.run()
		if err != nil {
			return err
		}
		fmt.Println("   ", res)
		got[l.key] = res
	}
	if len(got) >= 5 && got["bare"].n > 0 && got["naive"].n > 0 && got["nolimit"].n > 0 && got["api"].n > 0 && got["client"].n > 0 {
		ours, nolimit, remote, naive, bare := got["api"], got["nolimit"], got["client"], got["naive"], got["bare"]
		fmt.Printf("    ratios: ours/naive %.2f (ours via Go client/naive %.2f)   ours/bare %.3f   limiter cost %.1f%% of throughput (ours vs no limiter)   Go client/API door %.2f\n",
			ours.rate()/naive.rate(), remote.rate()/naive.rate(), ours.rate()/bare.rate(), 100*(1-ours.rate()/nolimit.rate()), remote.rate()/ours.rate())
	}
	fmt.Println()
	return nil
}

func scenarioB(ctx context.Context, e *env) error {
	door := map[string]string{"api": "the worker's HTTP API", "client": "a remote Go client"}[*bDoor]
	if door == "" {
		return fmt.Errorf("-b-door %q: want api or client", *bDoor)
	}
	fmt.Printf("(b) bulk import: workspace A publishes %d events to a 200 ms receiver while workspace B publishes %d (both through %s)\n", *nBulk, *nB, door)
	w, p, url, err := e.setup(ctx, 200*time.Millisecond, "HARI_REDIS_ADDR="+e.redis.Addr)
	if err != nil {
		return err
	}
	defer w.stop()
	bulk := make([]event.Event, *nBulk)
	for i := range bulk {
		bulk[i] = benchEvent("wsbulk", i, e.run)
	}
	small := make([]event.Event, *nB)
	for i := range small {
		small[i] = benchEvent("wssmall", i, e.run)
	}
	var pmu sync.Mutex
	var publishB []time.Duration
	pub := func(ev event.Event) error {
		t0 := time.Now()
		targets := []endpoint.Target{{ID: "t", URL: url}}
		var err error
		if *bDoor == "client" {
			_, err = p.Publish(ctx, workflows.EventInput{Event: ev, Targets: targets})
		} else {
			err = w.publishAPI(ctx, ev, targets)
		}
		if strings.HasPrefix(ev.ID, "wssmall.") {
			pmu.Lock()
			publishB = append(publishB, time.Since(t0))
			pmu.Unlock()
		}
		return err
	}
	cpu := e.cpuNow(w)
	start := time.Now()
	var sentA map[string]time.Time
	var errsA int
	done := make(chan struct{})
	go func() { sentA, errsA = publish(bulk, *pubConc, 0, pub); close(done) }()
	time.Sleep(2 * time.Second) // A's backlog is building
	sentB, errsB := publish(small, 0, 100*time.Millisecond, pub)
	<-done
	resB, err := e.measure("workspace B during A's import", small, sentB, start, errsB, 10*time.Minute)
	if err != nil {
		return err
	}
	resA, err := e.measure("workspace A (bulk)", bulk, sentA, start, errsA, 20*time.Minute)
	if err != nil {
		return err
	}
	resA.rssKB = w.peakRSS()
	// Over both workspaces' deliveries.
	resA.cpu = cpuLine(resA.n+resB.n, cpu, e.cpuNow(w))
	fmt.Println("   ", resA)
	pb50, pb99 := percentiles(publishB)
	fmt.Printf("     workspace B: %d events, latency p50 %.1f ms  p99 %.1f ms (of which the publish call, i.e. StartWorkflowExecution: p50 %.1f ms  p99 %.1f ms)\n\n",
		resB.n, ms(resB.p50), ms(resB.p99), ms(pb50), ms(pb99))
	return nil
}

func scenarioC(ctx context.Context, e *env) error {
	fmt.Printf("(c) two worker processes sharing the Redis limiter (limit 50), %d events to a receiver answering in 2 s\n", *nC)
	if err := e.fresh(ctx); err != nil {
		return err
	}
	queue := "bench-" + uuid.NewString()[:8]
	var ws []*workerProc
	for range 2 {
		w, err := e.startWorker(queue, "HARI_REDIS_ADDR="+e.redis.Addr)
		if err != nil {
			return err
		}
		defer w.stop()
		ws = append(ws, w)
	}
	e.rcv.reset(2 * time.Second)
	p := e.oursPublisher(queue)
	url := e.rcv.srv.URL + "/hook"
	evs := make([]event.Event, *nC)
	for i := range evs {
		evs[i] = benchEvent("wsc", i, queue)
	}
	// Sample the receiver's concurrency while the backlog lasts.
	stop := make(chan struct{})
	var samples []int
	var smu sync.Mutex
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				e.rcv.mu.Lock()
				n := e.rcv.now["wsc"]
				e.rcv.mu.Unlock()
				smu.Lock()
				samples = append(samples, n)
				smu.Unlock()
			}
		}
	}()
	start := time.Now()
	sent, errs := publish(evs, *pubConc, 0, func(ev event.Event) error {
		_, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: url}}})
		return err
	})
	res, err := e.measure("ours, 2 workers, Redis", evs, sent, start, errs, 10*time.Minute)
	close(stop)
	if err != nil {
		return err
	}
	res.rssKB = max(ws[0].peakRSS(), ws[1].peakRSS())
	fmt.Println("   ", res)
	// The middle of the run, when the backlog exceeds the limit.
	smu.Lock()
	mid := samples[len(samples)/5 : len(samples)*3/5]
	smu.Unlock()
	low, high := 1<<30, 0
	for _, s := range mid {
		low, high = min(low, s), max(high, s)
	}
	fmt.Printf("     concurrency at the receiver: peak %d (limit 50); while the backlog lasted (middle 40%% of the run) between %d and %d\n\n", res.peak["wsc"], low, high)
	return nil
}

func scenarioD(ctx context.Context, e *env) error {
	fmt.Printf("(d) light load: 10 events/s for %d s\n", *lightSec)
	// The machine's own floor first, with nothing of ours running (the
	// previous scenario's server stopped): what its slowest moments add
	// to a few milliseconds of CPU work.
	e.close()
	fmt.Println("   ", stallProbe(10**lightSec, 100*time.Millisecond, 5*time.Millisecond))
	w, _, url, err := e.setup(ctx, 0, "HARI_REDIS_ADDR="+e.redis.Addr)
	if err != nil {
		return err
	}
	defer w.stop()
	evs := make([]event.Event, 10**lightSec)
	for i := range evs {
		evs[i] = benchEvent("wsd", i, e.run)
	}
	start := time.Now()
	cpu := e.cpuNow(w)
	steal := stealMS()
	var calls callTimes
	sent, errs := publish(evs, 0, 100*time.Millisecond, calls.timed(func(ev event.Event) error {
		return w.publishAPI(ctx, ev, []endpoint.Target{{ID: "t", URL: url}})
	}))
	res, err := e.measure("ours via API, light load", evs, sent, start, errs, 5*time.Minute)
	if err != nil {
		return err
	}
	res.rssKB = w.peakRSS()
	res.cpu = cpuLine(res.n, cpu, e.cpuNow(w)) + "\n" + e.split(evs, sent, &calls, steal)
	fmt.Println("   ", res)
	if err := lightRouted(ctx, e, w, url); err != nil {
		return err
	}
	w.stop()
	// The floor at the same cadence: the least a durable workflow per
	// event costs on this server (eager start, one local activity that
	// POSTs, no API, limiter, search attributes or queries).
	fl, err := e.runInProcess(ctx, inProcess{
		label: "floor, light load", prefix: "floor", name: "FloorWebhook", workflow: floorWorkflow, eager: true, every: 100 * time.Millisecond,
	}, "wsdfloor", 10**lightSec, 0)
	if err != nil {
		return err
	}
	fmt.Println("   ", fl)
	fmt.Println()
	return nil
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// scenarioLoad publishes many events as fast as the publishers can, then
// reconciles what was published, what the receiver recorded and what
// Temporal says happened, and reports every difference.
func scenarioLoad(ctx context.Context, e *env) error {
	fmt.Printf("(L) load: %d events over 10 workspaces, published as fast as %d publishers can; then reconciliation\n", *nLoad, *pubConc)
	w, p, url, err := e.setup(ctx, 0, "HARI_REDIS_ADDR="+e.redis.Addr)
	if err != nil {
		return err
	}
	defer w.stop()
	evs := make([]event.Event, *nLoad)
	for i := range evs {
		evs[i] = benchEvent(fmt.Sprintf("wsload%d", i%10), i, e.run)
	}
	start := time.Now()
	sent, errs := publish(evs, *pubConc, 0, func(ev event.Event) error {
		_, err := p.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: url}}})
		return err
	})
	fmt.Printf("    published %d in %.1fs (%d publish errors)\n", len(sent), time.Since(start).Seconds(), errs)
	ids := make([]string, 0, len(sent))
	for id := range sent {
		ids = append(ids, id)
	}
	wsOf := make(map[string]string, len(evs))
	for _, ev := range evs {
		wsOf[ev.ID] = ev.Workspace
	}
	sort.Strings(ids)
	_ = e.rcv.waitFor(ids, 15*time.Minute)
	elapsed := time.Since(start)

	// Temporal's outcome of every published event.
	outcome := map[string]string{}
	var omu sync.Mutex
	next := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				o, err := p.Wait(wctx, wsOf[id], id)
				cancel()
				st := "error: "
				if err != nil {
					st += err.Error()
				} else {
					st = o.Deliveries[0].Status
				}
				omu.Lock()
				outcome[id] = st
				omu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()

	e.rcv.mu.Lock()
	received := len(e.rcv.got)
	var missing, notDelivered []string
	for _, id := range ids {
		if _, ok := e.rcv.got[id]; !ok {
			missing = append(missing, id)
		}
		if outcome[id] != workflows.StatusDelivered {
			notDelivered = append(notDelivered, id+" ("+outcome[id]+")")
		}
	}
	extra := 0
	for id := range e.rcv.got {
		if _, ok := sent[id]; !ok {
			extra++
		}
	}
	e.rcv.mu.Unlock()
	fmt.Printf("    reconciliation: published %d, receiver recorded %d distinct events (%d requests), Temporal delivered %d\n",
		len(ids), received, e.rcv.count.Load(), len(ids)-len(notDelivered))
	fmt.Printf("    differences: %d published but not received, %d not delivered per Temporal, %d received but never published\n", len(missing), len(notDelivered), extra)
	for i, m := range append(missing, notDelivered...) {
		if i == 10 {
			fmt.Println("      ...")
			break
		}
		fmt.Println("     ", m)
	}
	fmt.Printf("    %d deliveries in %.1fs = %.1f/s; worker peak RSS %d MiB\n\n", len(ids), elapsed.Seconds(), float64(len(ids))/elapsed.Seconds(), w.peakRSS()/1024)
	if len(missing)+len(notDelivered)+extra+errs > 0 {
		return fmt.Errorf("reconciliation found %d differences", len(missing)+len(notDelivered)+extra+errs)
	}
	return nil
}
