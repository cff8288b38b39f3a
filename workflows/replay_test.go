package workflows

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// A history recorded against a real server (500, 500, 200 to one target,
// 404 to another; see internal/recordhistory) must replay without
// non-determinism errors under the current workflow code.
func TestReplayRecordedHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "../testdata/replay/event_retries.json"); err != nil {
		t.Fatalf("replay: %v", err)
	}
}
