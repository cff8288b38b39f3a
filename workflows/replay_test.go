package workflows

import (
	"os"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Histories recorded against a real server (see internal/recordhistory)
// must replay without non-determinism errors under the current workflow
// code. Keep every recording: each is a version of the code that may still
// have runs open when a new worker is deployed.
func TestReplayRecordedHistory(t *testing.T) {
	for _, tt := range []struct{ file, what, id string }{
		// Recorded before the body query and continue-as-new: 500, 500,
		// 200 to one target, 404 to another; the DeliverWebhook input
		// still carries the body.
		{"event_retries.json", "retries, first recording", ""},
		// The same with the current code: DeliverWebhook without the
		// body, its fairness key and queue time.
		{"event_retries_v2.json", "retries", ""},
		// A delivery whose limiter is unreachable: run 1 parks it and
		// continues as new (server-suggested), run 2 delivers it.
		{"event_continued_run1.json", "parks and continues as new", ""},
		{"event_continued_run2.json", "resumes and delivers", ""},
		// A delivery whose first round of waiting ran out with its place
		// kept (version 2 of deliver-fairness-fifo): the short timer, then delivered.
		{"event_kept_place.json", "keeps its place between rounds", ""},
		// Started with only the event, before routing in the workflow
		// (commit d4c7177): completed at once with no delivery. The
		// route-in-workflow version keeps it so.
		{"event_only_before_routing.json", "event only, before routing", ""},
		// The same with routing in the workflow (current code): routed by
		// the local activity and delivered; and a workspace without a
		// registry, no_match.
		{"event_only_routed.json", "event only, routed in the workflow", ""},
		{"event_only_no_match.json", "event only, no match", ""},
		// The same three ways with version 3 of route-in-workflow (routing
		// recorded in search attributes first, the workflow ID checked):
		// routed and delivered, no match, and another workspace's event
		// under this one's ID, refused before routing
		// (go run ./internal/recordhistory routed testdata/replay).
		// These replay under their original workflow ID, which version 3
		// checks (a replayer's default ID is "ReplayId").
		{"event_only_routed_v3.json", "event only, routed, version 3", WorkflowID("replay-routed", "replay-routed-1")},
		{"event_only_no_match_v3.json", "event only, no match, version 3", WorkflowID("replay-no-registry", "replay-no-match-1")},
		{"event_only_wrong_id_v3.json", "event only, wrong workflow id, version 3", WorkflowID("replay-other", "replay-wrong-id-1")},
		// The local routing activity failed and the regular one routed;
		// and a registry that failed for good: routing_failed
		// (go run ./internal/recordhistory routepaths testdata/replay).
		{"event_only_routed_by_activity_v3.json", "event only, routed by the regular activity, version 3", WorkflowID("replay-routed", "replay-routed-activity-1")},
		{"event_only_routing_failed_v3.json", "event only, routing failed, version 3", WorkflowID("replay-broken", "replay-routing-failed-1")},
		// An event whose webhook was disabled: its delivery skipped, no
		// attempt (go run ./internal/recordhistory recovery).
		{"event_skipped.json", "delivery skipped, webhook disabled", ""},
		// An event that matched a disabled webhook and an active one:
		// skipped and delivered, HariSkippedKeys upserted under version 1
		// of search-skipped-keys, status partial.
		{"event_skipped_partial.json", "one delivery skipped, one delivered", ""},
		// The same under version 2 of search-skipped-keys: the event's
		// status delivered, not partial (go run ./internal/recordhistory
		// skipped testdata/replay).
		{"event_skipped_delivered_v2.json", "one delivery skipped, one delivered, version 2", ""},
	} {
		t.Run(tt.what, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
			if tt.id == "" {
				if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "../testdata/replay/"+tt.file); err != nil {
					t.Fatalf("replay %s: %v", tt.file, err)
				}
				return
			}
			f, err := os.Open("../testdata/replay/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("read %s: %v", tt.file, err)
			}
			opts := worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: tt.id}}
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, opts); err != nil {
				t.Fatalf("replay %s as %s: %v", tt.file, tt.id, err)
			}
		})
	}
}

// A history recorded before continue-as-new existed (commit c858827, see
// internal/recordhistory) whose deliveries waited through busy rounds
// replays with the history bounds lowered so far that every round boundary
// finds the run "full": the versionContinueAsNew guard must keep such a run
// from parking (its history has no marker), or the replay would give
// commands the recording does not have. Without the guard this fails.
func TestReplayBusyRoundsRecordedBeforeContinueAsNew(t *testing.T) {
	events, bytes := maxRunEvents, maxRunBytes
	t.Cleanup(func() { maxRunEvents, maxRunBytes = events, bytes })
	maxRunEvents, maxRunBytes = 1, 1
	for _, file := range []string{"event_busy_before_continue_as_new.json", "event_retries.json"} {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "../testdata/replay/"+file); err != nil {
				t.Fatalf("replay %s with the history bounds lowered to 1: %v", file, err)
			}
		})
	}
}

// A WebhookRecovery run recorded with the current code (go run
// ./internal/recordhistory recovery testdata/replay): two failed
// deliveries found and redelivered. Changes to RecoveryWorkflow must keep
// it replaying, or be guarded with workflow.GetVersion.
func TestReplayRecordedRecovery(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "../testdata/replay/recovery.json"); err != nil {
		t.Fatalf("replay recovery.json: %v", err)
	}
}
