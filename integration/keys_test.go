package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/tclient"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// keyEnv is a worker and its clients on their own task queue, all with
// one key ring: one deployment at one step of a key rotation.
type keyEnv struct {
	reg  *registry.Client
	pub  *publisher.Publisher
	stop func()
}

func startKeyEnv(t *testing.T, queue string, keys *codec.Keyring, rc *devtest.Receiver) keyEnv {
	t.Helper()
	c, err := tclient.Dial(tclient.Config{Address: srv.HostPort, Namespace: "default", Keys: keys}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	w, err := service.NewWorker(c, service.Options{AllowDirectSecrets: true, TaskQueue: queue, Secrets: keys, StopTimeout: time.Second,
		HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: devtest.TLSConfig(rc), Control: guard.Control})})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(c, registry.Options{Sealer: keys, TaskQueue: queue, Hosts: guard})
	pub := publisher.New(c, publisher.Options{AllowDirectSecrets: true, TaskQueue: queue, DataConverter: codec.DataConverter(keys), Router: reg, Hosts: guard})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			w.Stop()
			c.Close()
		}
	}
	t.Cleanup(stop)
	return keyEnv{reg: reg, pub: pub, stop: stop}
}

// Rotating and retiring a codec key, as the README tells an operator:
// put the new key first, reseal every registry, then remove the old key.
// Afterwards a deployment that holds only the new key still delivers
// every webhook signed (a rotated webhook's previous secret included),
// Test fires, and reads the registry.
func TestKeyRotationResealThenRetireTheOldKey(t *testing.T) {
	t.Parallel()
	oldSpec, _ := codec.NewKeySpec("old")
	newSpec, _ := codec.NewKeySpec("new")
	ringOld, _ := codec.ParseKeys(oldSpec)
	ringBoth, _ := codec.ParseKeys(newSpec + "," + oldSpec)
	ringNew, _ := codec.ParseKeys(newSpec)
	queue := "keys-" + uuid.NewString()[:8]
	ws := "ws-keys-" + uuid.NewString()[:8]
	rc := devtest.NewReceiver(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Step 0: webhooks saved under the old key; wh1's secret rotated, so
	// it also holds a previous secret in its grace period.
	env := startKeyEnv(t, queue, ringOld, rc)
	spec := func(name, secret string) webhook.Spec {
		var s webhook.Spec
		s.Name, s.Entity, s.Events, s.URL = name, "contact", []event.Type{event.RecordCreated}, rc.URL+"/"+name
		s.Secret = &secret
		return s
	}
	wh1, err := env.reg.Create(ctx, ws, spec("one", "first_secret_1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.reg.Update(ctx, ws, wh1.ID, spec("one", "second_secret_1")); err != nil {
		t.Fatal(err)
	}
	wh2, err := env.reg.Create(ctx, ws, spec("two", "secret_two_2"))
	if err != nil {
		t.Fatal(err)
	}
	env.stop()

	// Step 1: the new key first everywhere; reseal the registry.
	env = startKeyEnv(t, queue, ringBoth, rc)
	list, err := env.reg.Workspaces(ctx)
	if err != nil || !slices.Contains(list, ws) {
		t.Fatalf("registries found by visibility: got %v, %v; want %s among them", list, err, ws)
	}
	before, err := tc.DescribeWorkflowExecution(ctx, workflows.RegistryWorkflowID(ws), "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := env.reg.Reseal(ctx, ws); err != nil || n != 2 {
		t.Fatalf("reseal: got %d, %v; want 2 webhooks re-sealed", n, err)
	}
	if n, err := env.reg.Reseal(ctx, ws); err != nil || n != 0 {
		t.Fatalf("second reseal: got %d, %v; want 0 (nothing left under the old key)", n, err)
	}
	// The registry continued as new, so its current run holds nothing
	// sealed or encoded under the old key.
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := tc.DescribeWorkflowExecution(ctx, workflows.RegistryWorkflowID(ws), "")
		if err == nil && d.GetWorkflowExecutionInfo().GetExecution().GetRunId() != before.GetWorkflowExecutionInfo().GetExecution().GetRunId() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the registry did not continue as new after the reseal")
		}
		time.Sleep(100 * time.Millisecond)
	}
	env.stop()

	// Step 2: the old key removed. Everything still works.
	env = startKeyEnv(t, queue, ringNew, rc)
	views, err := env.reg.List(ctx, ws)
	if err != nil || len(views) != 2 {
		t.Fatalf("list with the new key alone: got %d webhooks, %v", len(views), err)
	}
	ev := event.Event{ID: uuid.NewString(), Type: event.RecordCreated, Entity: "contact", Timestamp: "2026-03-31T14:30:00Z", Workspace: ws,
		Record: event.Values(map[string]any{"id": "c-1", "name": "Jane Smith"})}
	receipt, err := env.pub.Publish(ctx, workflows.EventInput{Event: ev})
	if err != nil || receipt.Matched != 2 {
		t.Fatalf("publish: got %+v, %v; want two matches", receipt, err)
	}
	o, err := env.pub.Wait(ctx, ws, receipt.EventID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range o.Deliveries {
		if d.Status != workflows.StatusDelivered {
			t.Errorf("delivery to %s: got %s (%s), want delivered", d.WebhookID, d.Status, d.Error)
		}
	}
	tr, err := env.reg.TestFire(ctx, ws, wh2.ID)
	if err != nil || tr.StatusCode != 200 {
		t.Errorf("test fire with the new key alone: got %+v, %v", tr, err)
	}
	hits := rc.Hits()
	if len(hits) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (two deliveries, one test fire)", len(hits))
	}
	now := time.Now()
	for _, h := range hits {
		id := h.Header.Get(signature.HeaderID)
		switch {
		case strings.HasSuffix(id, ":"+wh1.ID):
			if !signature.VerifyRequest("second_secret_1", h.Header, h.Body) {
				t.Errorf("%s: X-Webhook-Signature does not verify with the current secret", id)
			}
			// The previous secret, re-sealed too, still signs in its grace period.
			if err := signature.VerifyStandard("first_secret_1", h.Header, h.Body, signature.DefaultTolerance, now); err != nil {
				t.Errorf("%s: webhook-signature with the previous secret: %v", id, err)
			}
		case strings.HasSuffix(id, ":"+wh2.ID):
			if !signature.VerifyRequest("secret_two_2", h.Header, h.Body) {
				t.Errorf("%s: X-Webhook-Signature does not verify", id)
			}
		default:
			t.Errorf("unexpected request %s", id)
		}
	}
}

// The starter's keys commands as an operator runs them, and the key-file
// permission check at an entry point.
func TestStarterKeysCommands(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc)
	e.startWorker()
	ws := "cli-keys-" + uuid.NewString()[:8]
	spec := `{"name": "ERP", "entity": "contact", "events": ["record.created"], "url": "` + rc.URL + `", "secret": "hari_cli_secret_1", "secret_header": false}`
	if stdout, stderr, code := e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-", "--json"); code != 0 || !strings.Contains(stdout, `"secret_header":false`) {
		t.Fatalf("create: exit %d, %s %s", code, stdout, stderr)
	}
	// Everything is sealed with the active key already: nothing to do.
	stdout, stderr, code := e.starterRun("", "keys", "reseal", "--workspace", ws, "--json")
	if code != 0 || strings.TrimSpace(stdout) != `{"workspaces":[{"workspace":"`+ws+`","resealed":0}]}` {
		t.Errorf("keys reseal --workspace: exit %d, %q %s; want 0 re-sealed", code, stdout, stderr)
	}
	stdout, stderr, code = e.starterRun("", "keys", "reseal", "--all", "--json")
	if code != 0 || !strings.Contains(stdout, `{"workspace":"`+ws+`","resealed":0}`) {
		t.Errorf("keys reseal --all: exit %d, %q %s; want %s listed", code, stdout, stderr, ws)
	}
	for _, args := range [][]string{{"keys", "reseal"}, {"keys", "reseal", "--all", "--workspace", ws}, {"keys", "new"}, {"keys", "rotate"}} {
		if _, stderr, code := e.starterRun("", args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d (%s), want 2 with a reason", args, code, stderr)
		}
	}
	stdout, _, code = e.starterRun("", "keys", "new", "--id", "k9")
	if _, err := codec.ParseKeys(strings.TrimSpace(stdout)); code != 0 || !strings.HasPrefix(stdout, "k9:") || err != nil {
		t.Errorf("keys new: exit %d, %q, %v; want a usable key entry k9:...", code, stdout, err)
	}

	// Issue 11 review, finding 5: `starter token --ttl` refuses a lifetime
	// above the maximum (workspace 24 h, service 30 days); the maximum
	// itself mints a token the API's keys accept.
	tokEnv := &cliEnv{t: t, starter: e.starter, worker: e.worker, env: append(append([]string(nil), e.env...), "HARI_API_KEYS="+apiKeySpec)}
	for _, args := range [][]string{{"token", "--workspace", ws, "--ttl", "25h"}, {"token", "--workspace", ws, "--ttl", "876000h"}, {"token", "--service", "--ttl", "721h"}} {
		if stdout, stderr, code := tokEnv.starterRun("", args...); code != 2 || stdout != "" || !strings.Contains(stderr, "is longer than the") {
			t.Errorf("%v: exit %d, %q %s; want 2, no token, the maximum named", args, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{{"token", "--workspace", ws, "--ttl", "24h"}, {"token", "--service", "--ttl", "720h"}} {
		stdout, stderr, code := tokEnv.starterRun("", args...)
		if _, err := apiKeys.Verify(strings.TrimSpace(stdout)); code != 0 || err != nil {
			t.Errorf("%v: exit %d (%s), verify %v; want a valid token", args, code, stderr, err)
		}
	}

	// A direct target with a sealed field is bad input: exit 2, nothing published.
	ev := `{"event": "record.created", "entity": "contact", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + ws + `", "record": {"id": "c-1"},
	  "targets": [{"id": "steal", "url": "` + rc.URL + `", "sealed_secret": "sealed:v2:test1:AAAA"}]}`
	if _, stderr, code := e.starterRun(ev, "publish", "--file", "-"); code != 2 || !strings.Contains(stderr, "sealed_secret") {
		t.Errorf("publish with sealed_secret: exit %d, %s; want 2 naming sealed_secret", code, stderr)
	}

	// A key file that group or others can read is refused, with the fix.
	keyFile := filepath.Join(t.TempDir(), "codec.keys")
	if err := os.WriteFile(keyFile, []byte(srv.KeySpec+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string(nil), e.env...)
	for i, kv := range env {
		if strings.HasPrefix(kv, "HARI_CODEC_KEYS=") {
			env[i] = "HARI_CODEC_KEYS_FILE=" + keyFile
		}
	}
	loose := &cliEnv{t: t, starter: e.starter, worker: e.worker, env: env}
	if stdout, stderr, code := loose.starterRun("", "webhooks", "list", "--workspace", ws, "--json"); code != 0 || !strings.Contains(stdout, `"name":"ERP"`) {
		t.Errorf("list with a 0600 key file: exit %d, %s %s", code, stdout, stderr)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := loose.starterRun("", "webhooks", "list", "--workspace", ws); code != 1 || !strings.Contains(stderr, keyFile) || !strings.Contains(stderr, "0644") || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("list with a 0644 key file: exit %d, %s; want 1 naming the file, its mode and chmod 600", code, stderr)
	}
}
