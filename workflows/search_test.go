package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// Every target of an event with up to MaxSearchableTargets webhooks, each
// with a long ID, is listed in HariWebhookKeys, within Temporal's 2,048
// bytes per search attribute value.
func TestEveryTargetIsSearchable(t *testing.T) {
	in := EventInput{Event: event.Event{Workspace: "acme", Type: event.RecordCreated}}
	for i := range MaxSearchableTargets {
		in.Targets = append(in.Targets, endpoint.Target{ID: fmt.Sprintf("wh-%03d-%s", i, strings.Repeat("x", 93))})
	}
	updates := searchUpdates(in, StatusPending)
	sa := SearchAttributes(in, StatusPending)
	keys, ok := sa.GetKeywordList(SearchWebhookKeys)
	if !ok || len(updates) != 5 {
		t.Fatalf("HariWebhookKeys: present=%v, updates=%d; want present and 5 updates", ok, len(updates))
	}
	if len(keys) != MaxSearchableTargets {
		t.Fatalf("keys: got %d, want %d", len(keys), MaxSearchableTargets)
	}
	b, _ := json.Marshal(keys)
	if len(b) > maxSearchValueBytes {
		t.Errorf("HariWebhookKeys is %d bytes of JSON, want at most %d", len(b), maxSearchValueBytes)
	}
	for i, tg := range in.Targets {
		if keys[i] != WebhookKey(tg.ID) {
			t.Fatalf("key %d: got %s, want %s", i, keys[i], WebhookKey(tg.ID))
		}
	}
	ids, _ := sa.GetKeywordList(SearchWebhookIDs)
	if b, _ := json.Marshal(ids); len(b) > maxSearchValueBytes || len(ids) >= MaxSearchableTargets {
		t.Errorf("HariWebhookIDs: %d IDs in %d bytes, want cut below %d bytes", len(ids), len(b), maxSearchValueBytes)
	}
}

func TestWebhookKey(t *testing.T) {
	k := WebhookKey(`a'b\c"d`)
	if len(k) != 6 || strings.Trim(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("key %q: want 6 base64url characters", k)
	}
	if WebhookKey("wh_1") == WebhookKey("wh_2") || WebhookKey("wh_1") != WebhookKey("wh_1") {
		t.Error("keys must be stable and tell webhooks apart")
	}
}

// A disabled webhook's skipped delivery is listed in HariSkippedKeys also
// when the event went to another webhook too, so it is counted and
// recovered; such an event, nothing failed, is delivered (version 2 of
// search-skipped-keys; partial under version 1), so that the other
// webhook's health does not read it as a failure. An event without a
// skipped delivery sets no HariSkippedKeys, nor does one replaying a
// history recorded before HariSkippedKeys existed (no
// search-skipped-keys marker).
func TestSkippedDeliveriesAreListedBySkippedKeys(t *testing.T) {
	rcv := newScripted(t, 200, 200, 200)
	const current = workflow.Version(-2) // no recorded version: the code's
	tests := []struct {
		name       string
		routed     []endpoint.Routed
		wantStatus string
		wantKeys   []string
		version    workflow.Version
	}{
		{"one disabled, one delivered", []endpoint.Routed{{ID: "wh_off", URL: rcv.srv.URL, Disabled: true}, {ID: "wh_on", URL: rcv.srv.URL}}, StatusDelivered, []string{WebhookKey("wh_off")}, current},
		{"both disabled", []endpoint.Routed{{ID: "wh_off", URL: rcv.srv.URL, Disabled: true}, {ID: "wh_off2", URL: rcv.srv.URL, Disabled: true}}, StatusSkipped, []string{WebhookKey("wh_off"), WebhookKey("wh_off2")}, current},
		{"none disabled", []endpoint.Routed{{ID: "wh_on", URL: rcv.srv.URL}}, StatusDelivered, nil, current},
		{"one disabled, one delivered, version 1", []endpoint.Routed{{ID: "wh_off", URL: rcv.srv.URL, Disabled: true}, {ID: "wh_on", URL: rcv.srv.URL}}, StatusPartial, []string{WebhookKey("wh_off")}, 1},
		{"one disabled, recorded before the change", []endpoint.Routed{{ID: "wh_off", URL: rcv.srv.URL, Disabled: true}, {ID: "wh_on", URL: rcv.srv.URL}}, StatusPartial, nil, workflow.DefaultVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
			in := EventInput{Event: testEvent(), Routed: tt.routed}
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID(in.Event.Workspace, in.Event.ID)})
			acts := &activities.Activities{Client: tlsClient(t, rcv.srv), AttemptTimeout: time.Second}
			acts.Workflows = envQuerier{env}
			env.RegisterActivity(acts)
			if tt.version != current {
				env.OnGetVersion(versionSkippedKeys, workflow.DefaultVersion, 2).Return(tt.version)
			}
			var mu sync.Mutex
			var status string
			var keys []string
			keysSet := 0
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				mu.Lock()
				defer mu.Unlock()
				if st, ok := sa.GetKeyword(SearchStatus); ok {
					status = st
				}
				if k, ok := sa.GetKeywordList(SearchSkippedKeys); ok {
					keys = k
					keysSet++
				}
			}).Return(nil)
			env.ExecuteWorkflow(EventWorkflowName, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow error: %v", err)
			}
			if status != tt.wantStatus {
				t.Errorf("HariDeliveryStatus: got %q, want %q", status, tt.wantStatus)
			}
			if tt.wantKeys == nil {
				if keysSet != 0 {
					t.Errorf("HariSkippedKeys: got %v set %d times, want not set", keys, keysSet)
				}
				return
			}
			if keysSet != 1 || !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("HariSkippedKeys: got %v set %d times, want %v once", keys, keysSet, tt.wantKeys)
			}
		})
	}
}
