//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/internal/devtest"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The README's first five minutes as a user runs them: the real
// scripts/run.sh (what make run starts: the dev server, the demo receiver,
// the worker, the seeded example webhook, the Settings link with its
// token), moved to free ports and its own data and binaries so that
// nothing a user's make run holds is touched, then the real
// make demo-event against it; the delivery is delivered in the demo
// webhook's log, read through the API with the printed link's token.
func TestQuickStartRunsTheREADME(t *testing.T) {
	t.Parallel()
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := devtest.TemporalPath()
	if err != nil {
		t.Fatal(err)
	}
	if cli, err = filepath.Abs(cli); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for range 4 {
		a, err := devtest.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, a)
	}
	temporalAddr, uiAddr, httpAddr, receiverAddr := ports[0], ports[1], ports[2], ports[3]
	port := func(a string) string { return a[strings.LastIndex(a, ":")+1:] }
	data, bin := t.TempDir(), t.TempDir()
	// The user's environment, without this process's HARI_ and TEMPORAL_
	// settings (the shared test server's), then the run's places.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HARI_") && !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "MAKE") {
			env = append(env, kv)
		}
	}
	env = append(env, "TEMPORAL_CLI="+cli, "TEMPORAL_PORT="+port(temporalAddr), "UI_PORT="+port(uiAddr),
		"HARI_HTTP_ADDR="+httpAddr, "HARI_RECEIVER_ADDR="+receiverAddr, "HARI_DATA_DIR="+data, "HARI_BIN_DIR="+bin)

	run := exec.Command("bash", "scripts/run.sh")
	run.Dir, run.Env = root, env
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one group: the script and all it starts
	var out syncBuffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = run.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Ctrl-C's path first (the script stops what it started), then
		// the whole group for good.
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
		}
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("scripts/run.sh said:\n%s", out.String())
		}
	})

	// The Settings link, as make run prints it.
	link := regexp.MustCompile(`Settings page:\s+(http://\S+/settings/webhooks\?workspace=yourcompany#token=(\S+))`)
	var m []string
	for deadline := time.Now().Add(5 * time.Minute); m == nil; time.Sleep(500 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("scripts/run.sh exited before it was running:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("scripts/run.sh printed no Settings link within 5 minutes:\n%s", out.String())
		}
		m = link.FindStringSubmatch(out.String())
	}
	if !strings.HasPrefix(m[1], "http://"+httpAddr+"/") {
		t.Errorf("Settings link %s, want it on HARI_HTTP_ADDR %s", m[1], httpAddr)
	}
	if strings.Contains(out.String(), "could not seed the example webhook") {
		t.Fatalf("make run did not seed the example webhook:\n%s", out.String())
	}
	tok := m[2]
	get := func(path string, v any) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+httpAddr+"/api/v1/workspaces/yourcompany"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode == http.StatusOK && v != nil {
			if err := json.Unmarshal(b.Bytes(), v); err != nil {
				return 0, err.Error()
			}
		}
		return resp.StatusCode, b.String()
	}
	var list struct {
		Webhooks []view `json:"webhooks"`
	}
	if code, b := get("/webhooks", &list); code != http.StatusOK || len(list.Webhooks) != 1 {
		t.Fatalf("the workspace's webhooks with the link's token: got %d %s, want 200 and the one example webhook", code, b)
	}
	demo := list.Webhooks[0]
	if demo.URL != "https://"+receiverAddr+"/webhooks/hari" {
		t.Errorf("the example webhook's URL: got %s, want the demo receiver's https://%s/webhooks/hari", demo.URL, receiverAddr)
	}

	// make demo-event from a second terminal, pointed at this run.
	demoEvent := exec.Command("make", "--no-print-directory", "demo-event")
	demoEvent.Dir = root
	demoEvent.Env = env // TEMPORAL_PORT and HARI_DATA_DIR: this run's
	demoEvent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	published, err := demoEvent.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo-event: %v\n%s", err, published)
	}
	if !regexp.MustCompile(demo.ID + `\s+https://` + regexp.QuoteMeta(receiverAddr) + `/webhooks/hari\s+DELIVERED`).Match(published) {
		t.Errorf("make demo-event printed %q, want the delivery delivered", published)
	}

	// The demo webhook's log, as the page reads it.
	var entries logPage
	deadline := time.Now().Add(time.Minute)
	for {
		code, b := get("/webhooks/"+demo.ID+"/deliveries", &entries)
		if code == http.StatusOK && len(entries.Deliveries) == 1 && entries.Deliveries[0].Delivery.Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo webhook's delivery log: got %d %s, want one delivery, delivered, within a minute", code, b)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The demo receiver checked the signature with the demo secret.
	if !strings.Contains(out.String(), "signature=valid") {
		t.Errorf("the demo receiver's output has no signature=valid:\n%s", out.String())
	}
}
