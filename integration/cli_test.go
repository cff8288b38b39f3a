package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/internal/devtest"
)

// proc is a built command of this module, run as a separate process.
type proc struct {
	cmd    *exec.Cmd
	addr   string // the worker's HTTP address
	mu     sync.Mutex
	stderr bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type cliEnv struct {
	t       *testing.T
	starter string
	worker  string
	env     []string
}

func newCLIEnv(t *testing.T, rc *devtest.Receiver) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	certFile := filepath.Join(dir, "receiver.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{
		t:       t,
		starter: devtest.GoBuild(t, "starter", dir),
		worker:  devtest.GoBuild(t, "worker", dir),
		env: append(os.Environ(),
			"TEMPORAL_ADDRESS="+srv.HostPort,
			"HARI_CODEC_KEYS="+srv.KeySpec,
			"HARI_TASK_QUEUE=cli-"+uuid.NewString()[:8],
			"SSL_CERT_FILE="+certFile,
			"HARI_ALLOW_CIDRS=127.0.0.1/32",
			// The tests publish direct targets with plaintext secrets
			// (direct mode); TestDirectTargetsRefusedByDefault turns
			// it off again.
			"HARI_ALLOW_DIRECT_TARGETS=1",
		),
	}
}

// startWorker runs the worker binary in development mode (-dev: no API
// keys or codec token needed).
func (e *cliEnv) startWorker() *proc {
	e.t.Helper()
	return e.launchWorker([]string{"-dev"})
}

// launchWorker runs the worker binary with args and extra environment
// variables, and waits until it is healthy.
func (e *cliEnv) launchWorker(args []string, env ...string) *proc {
	e.t.Helper()
	addr, err := devtest.FreeAddr()
	if err != nil {
		e.t.Fatal(err)
	}
	p := &proc{addr: addr}
	p.cmd = e.workerCommand(append(args, "-http", addr), env...)
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
	// Ready when the health check answers.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("worker did not become healthy:\n%s", p.logs())
	return nil
}

// workerCommand is the worker binary with args and the test environment
// plus env (later entries win).
func (e *cliEnv) workerCommand(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(e.worker, args...)
	cmd.Env = append(append([]string{}, e.env...), env...)
	return cmd
}

// starterRun runs the starter CLI with stdin and returns stdout, stderr and
// the exit code.
func (e *cliEnv) starterRun(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.starter, args...)
	cmd.Env = e.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run starter: %v", err)
	}
	return out.String(), errOut.String(), code
}

type cliOutcome struct {
	EventID    string `json:"event_id"`
	WorkflowID string `json:"workflow_id"`
	Duplicate  bool   `json:"duplicate"`
	Deliveries []struct {
		WebhookID string `json:"webhook_id"`
		URL       string `json:"url"`
		Status    string `json:"status"`
		Attempts  []struct {
			Attempt      int       `json:"attempt"`
			StartedAt    time.Time `json:"started_at"`
			DurationMS   *int64    `json:"duration_ms"`
			StatusCode   int       `json:"status_code"`
			Error        string    `json:"error"`
			ResponseBody string    `json:"response_body"`
		} `json:"attempts"`
	} `json:"deliveries"`
}

func eventFile(id, url string) string {
	return fmt.Sprintf(`{"id": %q, "event": "record.created", "entity": "contact", "timestamp": "2026-03-31T14:30:00Z",
  "workspace": "cli", "record": {"id": "c-1", "name": "Jane Smith", "email": "jane@example.com"},
  "targets": [{"id": "cli-hook", "url": %q, "secret": %q}]}`, id, url, secret)
}

func TestStarterAndWorkerProcesses(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"thanks":true}`))
	})
	e := newCLIEnv(t, rc)
	worker := e.startWorker()

	id := uuid.NewString()
	stdout, stderr, code := e.starterRun(eventFile(id, rc.URL+"/hook"), "publish", "--file", "-", "--wait", "--json")
	if code != 0 {
		t.Fatalf("publish exit %d: %s", code, stderr)
	}
	var o cliOutcome
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		t.Fatalf("publish --json printed %q: %v", stdout, err)
	}
	if o.EventID != id || o.WorkflowID != "webhook-event:cli:"+id || o.Duplicate || len(o.Deliveries) != 1 {
		t.Fatalf("publish output: %+v", o)
	}
	d := o.Deliveries[0]
	if d.Status != "delivered" || d.WebhookID != "cli-hook" || len(d.Attempts) != 1 {
		t.Fatalf("delivery: %+v", d)
	}
	a := d.Attempts[0]
	if a.Attempt != 1 || a.StatusCode != 200 || a.StartedAt.IsZero() || a.DurationMS == nil || a.ResponseBody != `{"thanks":true}` {
		t.Errorf("attempt: %+v", a)
	}
	// The documented shape: every key present, even when empty.
	var raw struct {
		Deliveries []struct {
			Attempts []map[string]any `json:"attempts"`
		} `json:"deliveries"`
	}
	_ = json.Unmarshal([]byte(stdout), &raw)
	for _, k := range []string{"attempt", "started_at", "duration_ms", "status_code", "error", "response_body"} {
		if _, ok := raw.Deliveries[0].Attempts[0][k]; !ok {
			t.Errorf("attempt JSON lacks %q: %s", k, stdout)
		}
	}
	if h := rc.Hits(); len(h) != 1 || h[0].Header.Get("X-Webhook-Signature") == "" {
		t.Fatalf("receiver: %d hits", len(h))
	}

	// The same event again: a duplicate, nothing delivered twice.
	stdout, stderr, code = e.starterRun(eventFile(id, rc.URL+"/hook"), "publish", "--file", "-", "--json")
	if code != 0 || !strings.Contains(stdout, `"duplicate":true`) {
		t.Fatalf("second publish: exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}

	// show prints the same object.
	stdout, _, code = e.starterRun("", "show", "--workspace", "cli", "--event", id, "--json")
	var shown cliOutcome
	if code != 0 || json.Unmarshal([]byte(stdout), &shown) != nil || shown.Deliveries[0].Attempts[0].StatusCode != 200 {
		t.Fatalf("show: exit %d, %s", code, stdout)
	}

	// Bad input: exit 2, a specific message, nothing started.
	bad := strings.Replace(eventFile(uuid.NewString(), rc.URL), "record.created", "record.exploded", 1)
	_, stderr, code = e.starterRun(bad, "publish", "--file", "-")
	if code != 2 || !strings.Contains(stderr, `unknown event type "record.exploded"`) {
		t.Errorf("invalid event: exit %d, stderr %q; want 2 and the unknown type named", code, stderr)
	}
	_, stderr, code = e.starterRun(eventFile(uuid.NewString(), "http://127.0.0.1:1/hook"), "publish", "--file", "-")
	if code != 2 || !strings.Contains(stderr, "https") {
		t.Errorf("http URL: exit %d, stderr %q", code, stderr)
	}
	if len(rc.Hits()) != 1 {
		t.Errorf("receiver got %d requests, want 1", len(rc.Hits()))
	}
	// Operators: the worker's metrics show the delivery, its attempt and
	// the SDK's own metrics.
	resp, err := http.Get("http://" + worker.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`hari_webhook_attempts_total{result="2xx"} 1`,
		`hari_webhook_deliveries_total{`,
		`outcome="delivered"`,
		`hari_webhook_attempt_duration_seconds_count{result="2xx"} 1`,
		`temporal_workflow_completed`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, logs := range []string{worker.logs(), stdout} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret appears in output or logs")
		}
	}
}

// SIGTERM lets an in-flight POST finish and record its outcome.
func TestWorkerShutdownFinishesInFlightAttempt(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	e := newCLIEnv(t, rc)
	worker := e.startWorker()

	id := uuid.NewString()
	if _, stderr, code := e.starterRun(eventFile(id, rc.URL), "publish", "--file", "-"); code != 0 {
		t.Fatalf("publish: %s", stderr)
	}
	rc.WaitHits(t, 1, 10*time.Second)
	if err := worker.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the worker is draining, the POST still open
	close(release)
	done := make(chan error, 1)
	go func() { done <- worker.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exit: %v\n%s", err, worker.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop within 30 s")
	}

	e.startWorker() // a fresh worker finishes the workflow
	stdout, stderr, code := e.starterRun("", "show", "--workspace", "cli", "--event", id, "--json")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout, `"status":"delivered"`) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		stdout, stderr, code = e.starterRun("", "show", "--workspace", "cli", "--event", id, "--json")
	}
	var o cliOutcome
	if code != 0 || json.Unmarshal([]byte(stdout), &o) != nil {
		t.Fatalf("show: exit %d %s %s", code, stdout, stderr)
	}
	if d := o.Deliveries[0]; d.Status != "delivered" || len(d.Attempts) != 1 {
		t.Errorf("after a graceful stop: got %s with %d attempts, want delivered with the one attempt", d.Status, len(d.Attempts))
	}
	if n := len(rc.Hits()); n != 1 {
		t.Errorf("receiver got %d requests, want 1 (the in-flight POST finished, nothing resent)", n)
	}
}

func TestStarterWebhookCommands(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) })
	e := newCLIEnv(t, rc)
	e.startWorker()
	ws := "cli-" + uuid.NewString()[:8]
	spec := `{"name": "ERP", "entity": "opportunity", "events": ["stage.changed"],
	  "conditions": [{"field": "stage", "op": "changed_to", "value": "Closed Won"}],
	  "url": "` + rc.URL + `", "secret": "hari_cli_secret_1", "fields": ["name", "amount", "owner"]}`

	stdout, stderr, code := e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-", "--json")
	var v struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
		Active bool   `json:"active"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.ID == "" || !v.Active {
		t.Fatalf("create: exit %d, %s %s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "hari_cli_secret_1") || v.Secret != "********et_1" {
		t.Errorf("create prints the secret unmasked: %s", stdout)
	}
	_, stderr, code = e.starterRun(strings.Replace(spec, "https://", "http://", 1), "webhooks", "create", "--workspace", ws, "--file", "-")
	if code != 2 || !strings.Contains(stderr, "https") {
		t.Errorf("http:// create: exit %d, %s", code, stderr)
	}
	stdout, _, code = e.starterRun("", "webhooks", "list", "--workspace", ws, "--json")
	if code != 0 || strings.Count(stdout, `"id"`) != 1 || strings.Contains(stdout, "sealed") {
		t.Errorf("list: exit %d, %s", code, stdout)
	}

	stdout, stderr, code = e.starterRun("", "test-fire", "--workspace", ws, "--webhook", v.ID, "--json")
	var res map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil {
		t.Fatalf("test-fire: exit %d, %s %s", code, stdout, stderr)
	}
	for _, k := range []string{"status_code", "duration_ms", "body", "body_truncated", "error", "fired_at"} {
		if _, ok := res[k]; !ok {
			t.Errorf("test-fire JSON lacks %q: %s", k, stdout)
		}
	}
	if res["status_code"] != 200.0 || res["body"] != `{"ok":true}` {
		t.Errorf("test-fire: %s", stdout)
	}
	stdout, _, _ = e.starterRun("", "test-result", "--workspace", ws, "--webhook", v.ID, "--json")
	if !strings.Contains(stdout, `"fired_at"`) {
		t.Errorf("test-result: %s", stdout)
	}
	if _, _, code = e.starterRun("", "test-dismiss", "--workspace", ws, "--webhook", v.ID); code != 0 {
		t.Errorf("test-dismiss: exit %d", code)
	}
	stdout, _, _ = e.starterRun("", "test-result", "--workspace", ws, "--webhook", v.ID, "--json")
	if strings.TrimSpace(stdout) != "null" {
		t.Errorf("test-result after dismiss: %q, want null", stdout)
	}

	// An event without targets goes to the matching webhook.
	event := `{"event": "stage.changed", "entity": "opportunity", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + ws + `",
	  "record": {"id": "o1", "name": "Deal", "amount": 10, "owner": "Ann", "email": "x@example.com"},
	  "changes": {"stage": {"old": "Proposal", "new": "Closed Won"}}}`
	stdout, stderr, code = e.starterRun(event, "publish", "--file", "-", "--wait", "--json")
	if code != 0 || !strings.Contains(stdout, `"status":"delivered"`) || !strings.Contains(stdout, `"webhook_id":"`+v.ID+`"`) {
		t.Errorf("publish to the registry: exit %d, %s %s", code, stdout, stderr)
	}
	stdout, _, code = e.starterRun(strings.Replace(event, `"new": "Closed Won"`, `"new": "Lost"`, 1), "publish", "--file", "-", "--json")
	if code != 0 || !strings.Contains(stdout, `"no_match":true`) {
		t.Errorf("non-matching publish: exit %d, %s", code, stdout)
	}
	for _, sub := range []string{"deactivate", "activate", "get", "delete"} {
		if _, stderr, code := e.starterRun("", "webhooks", sub, "--workspace", ws, "--id", v.ID); code != 0 {
			t.Errorf("webhooks %s: exit %d %s", sub, code, stderr)
		}
	}
	if _, _, code := e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", v.ID); code != 2 {
		t.Errorf("get after delete: exit %d, want 2", code)
	}
}
