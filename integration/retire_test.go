package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/workflows"
)

// A registry an operator retires (`starter webhooks retire`) stays ended:
// the worker's sweep, recover --all and a write leave it so (a write is
// refused with the way back), while `recover --workspace` still brings it
// back whole. A registry ended otherwise is still swept back
// (TestRecoverAllAndWorkerSweep).
func TestRetiredRegistryStaysEnded(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc).withEnv("HARI_RECOVER_EVERY=300ms")
	e.startWorker()
	ws := "retire-" + uuid.NewString()[:8]
	spec := `{"name": "hook", "entity": "contact", "events": ["record.created"], "url": "` + rc.URL + `"}`
	if _, stderr, code := e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-"); code != 0 {
		t.Fatalf("create: exit %d %s", code, stderr)
	}
	fairness(t, ws)
	stdout, stderr, code := e.starterRun("", "webhooks", "retire", "--workspace", ws)
	if code != 0 || !strings.Contains(stdout, "retired the registry of workspace "+ws) {
		t.Fatalf("retire: exit %d, %q %q; want 0 and the confirmation", code, stdout, stderr)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("after retire: registry status %s, want terminated", st)
	}

	// The sweep runs every 300 ms: give it ten chances.
	time.Sleep(3 * time.Second)
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("3 s after retire: registry status %s, want still terminated (the sweep must leave a retired registry)", st)
	}
	if stdout, stderr, code := e.starterRun("", "webhooks", "recover", "--all", "--json"); code != 0 || strings.Contains(stdout, ws) {
		t.Errorf("recover --all: exit %d, %q %q; want 0 and %s not recovered", code, stdout, stderr, ws)
	}
	_, stderr, code = e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-")
	if code == 0 || !strings.Contains(stderr, "retired by an operator") || !strings.Contains(stderr, "recover --workspace "+ws) {
		t.Errorf("create in a retired workspace: exit %d, stderr %q; want refused, naming the retirement and the way back", code, stderr)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("after recover --all and a write: registry status %s, want still terminated", st)
	}
	// Its webhooks get no event: a retired registry routes nothing.
	ev := `{"id": "` + uuid.NewString() + `", "event": "record.created", "entity": "contact", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + ws + `", "record": {"id": "c-1"}}`
	stdout, stderr, code = e.starterRun(ev, "publish", "--file", "-", "--wait", "--json")
	if code != 0 || !strings.Contains(stdout, `"no_match":true`) {
		t.Errorf("publish to the retired workspace: exit %d, %q %q; want 0 and no_match", code, stdout, stderr)
	}
	if n := len(rc.Hits()); n != 0 {
		t.Errorf("the retired workspace's webhook got %d requests, want 0", n)
	}

	// The operator brings it back by name, with its webhook.
	stdout, stderr, code = e.starterRun("", "webhooks", "recover", "--workspace", ws, "--json")
	var rec struct {
		Recovered bool `json:"recovered"`
		Webhooks  int  `json:"webhooks"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rec) != nil || !rec.Recovered || rec.Webhooks != 1 {
		t.Fatalf("recover --workspace: exit %d, %q %q; want recovered with 1 webhook", code, stdout, stderr)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("after recover --workspace: registry status %s, want running", st)
	}
	fairness(t, ws)
}

// fairness checks that the workspace's registry runs with the workspace as
// its task-queue fairness key.
func fairness(t *testing.T, ws string) {
	t.Helper()
	d, err := tc.DescribeWorkflowExecution(context.Background(), workflows.RegistryWorkflowID(ws), "")
	if err != nil {
		t.Fatalf("describe registry: %v", err)
	}
	if got := d.GetWorkflowExecutionInfo().GetPriority().GetFairnessKey(); got != workflows.FairnessKey(ws) {
		t.Errorf("registry fairness key: got %q, want %q", got, workflows.FairnessKey(ws))
	}
}
