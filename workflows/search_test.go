package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
