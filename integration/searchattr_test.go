package integration

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/tclient"
)

// A namespace whose KeywordList slots are all taken by other attributes
// (the dev server's store allows 3) cannot get HariSkippedKeys and the
// others: the worker binary refuses to start, naming the missing
// attributes and the command that adds them, rather than leaving every
// event open with its final upsert failing.
func TestWorkerRefusesANamespaceWithoutOurSearchAttributes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t, "full-")
	others := map[string]enumspb.IndexedValueType{}
	for _, name := range []string{"OtherListA", "OtherListB", "OtherListC"} {
		others[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST
	}
	// A namespace just registered is known after the frontend's cache
	// refreshes (every 2 s by default).
	for {
		_, err := tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: others})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("add the other attributes to %s: %v", ns, err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc)
	addr, err := devtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := e.workerCommand([]string{"-dev", "-http", addr}, "TEMPORAL_NAMESPACE="+ns)
	p := &proc{cmd: cmd}
	cmd.Stderr = p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("worker still running after 2 minutes in a namespace without our search attributes, want it to exit:\n%s", p.logs())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("worker exit: got %v, want a non-zero exit\n%s", err, p.logs())
	}
	logs := p.logs()
	for _, s := range []string{
		"HariSkippedKeys (KeywordList) is missing",
		"temporal operator search-attribute create --namespace " + ns + " --name HariSkippedKeys --type KeywordList",
	} {
		if !strings.Contains(logs, s) {
			t.Errorf("worker's error: got\n%s\nwant it to contain %q", logs, s)
		}
	}
}

// Our search attributes added to a namespace that lacks them (a later
// version adding one on an existing make-run data folder, a namespace made
// by hand) are listed at once but refused in starts until the server's
// namespace cache refreshes. The worker's start-up check waits for them
// to be accepted, so a workflow started right after it is not refused.
func TestSearchAttributesAddedAtStartAreUsableOnceTheCheckPasses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t, "later-")
	c, err := tclient.Dial(tclient.Config{Address: srv.HostPort, Namespace: ns, Keys: srv.Keys}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A namespace just registered is known after the frontend's cache
	// refreshes.
	for {
		err := service.EnsureSearchAttributes(ctx, c, ns)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("add our search attributes to %s: %v", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := service.CheckSearchAttributes(ctx, c, ns, time.Minute); err != nil {
		t.Fatalf("check the search attributes of %s: %v", ns, err)
	}
	if err := devtest.StartWithEverySearchAttribute(ctx, c); err != nil {
		t.Fatalf("start a workflow with every search attribute right after the check passed: %v", err)
	}
}

// newNamespace registers a namespace named prefix and a random suffix
// (without our search attributes).
func newNamespace(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	ns := prefix + uuid.NewString()[:8]
	if _, err := tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatalf("register namespace %s: %v", ns, err)
	}
	return ns
}
