package workflows

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// A registry run recorded against a real server (see internal/recordhistory:
// two creates, an update rotating a secret, a deactivation, two Test fires
// and a dismissal, a delete, toggles, then continue-as-new) must replay
// without non-determinism errors under the current workflow code. A change
// that alters the registry's commands needs workflow.GetVersion.
func TestReplayRecordedRegistryHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "../testdata/replay/registry_lifecycle.json"); err != nil {
		t.Fatalf("replay: %v", err)
	}
}
