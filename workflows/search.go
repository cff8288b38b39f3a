package workflows

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Search attributes of event workflows: they let the execution log and
// engineers in the Web UI filter deliveries by workspace, webhook, event
// type and outcome. The worker registers them at start.
var (
	SearchWorkspace  = temporal.NewSearchAttributeKeyKeyword("HariWorkspace")
	SearchWebhookIDs = temporal.NewSearchAttributeKeyKeywordList("HariWebhookIDs")
	SearchEventType  = temporal.NewSearchAttributeKeyKeyword("HariEventType")
	SearchStatus     = temporal.NewSearchAttributeKeyKeyword("HariDeliveryStatus")
	// SearchWebhookKeys lists WebhookKey of every target: short keys, so
	// that every webhook of an event is findable (HariWebhookIDs holds the
	// readable IDs, but only as many as fit in 1,800 bytes).
	SearchWebhookKeys = temporal.NewSearchAttributeKeyKeywordList("HariWebhookKeys")
	// SearchSkippedKeys lists WebhookKey of every target whose delivery
	// was skipped (its webhook disabled), set only on events where one
	// was: it finds a disabled webhook's skipped events also when the
	// event went to other webhooks too (HariDeliveryStatus is then
	// partial, not skipped).
	SearchSkippedKeys = temporal.NewSearchAttributeKeyKeywordList("HariSkippedKeys")
)

// WebhookKey is a webhook's key in SearchWebhookKeys: the first 36 bits of
// the SHA-256 of its ID, in 6 base64url characters. Temporal bounds one
// search attribute value at 2,048 bytes of JSON ("limit.searchAttributes.
// SizeOfValue"; 40 KB for all of a workflow's): 200 keys take 1,801, so
// every target of an event with up to MaxSearchableTargets is listed. A key
// may collide with another webhook's (about 1 in 10^7 for 200 webhooks);
// the execution log then drops the other webhook's event, as it reads each
// event's deliveries by exact webhook ID.
func WebhookKey(webhookID string) string {
	sum := sha256.Sum256([]byte(webhookID))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:6]
}

// MaxSearchableTargets is the number of targets of one event whose keys
// SearchWebhookKeys holds: the registry's MaxWebhooks, well above the 50
// direct targets a publish may name.
const MaxSearchableTargets = 200

// maxSearchValueBytes is Temporal's default bound of one search attribute
// value (JSON bytes).
const maxSearchValueBytes = 2048

// FairnessKey is a workspace's key for Temporal's task-queue fairness
// (at most 64 bytes).
func FairnessKey(workspace string) string {
	if len(workspace) <= 64 {
		return workspace
	}
	return workspace[:48] + fmt.Sprintf("~%08x", fnv32(workspace, 0))
}

// Event-level outcomes in SearchStatus (StatusPending while running).
const (
	// StatusPartial: some deliveries failed, others were delivered or
	// skipped (before version 2 of search-skipped-keys, also an event
	// with none failed, some delivered and some skipped).
	StatusPartial = "partial"
)

// SearchAttributes returns an event workflow's search attributes.
func SearchAttributes(in EventInput, status string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(searchUpdates(in, status)...)
}

// maxSearchIDsBytes keeps HariWebhookIDs under Temporal's 2 KB limit per
// search attribute: an event that matches more webhooks than fit lists the
// first ones there, for engineers in the Web UI; HariWebhookKeys lists all
// of them, for the execution log.
const maxSearchIDsBytes = 1800

func searchUpdates(in EventInput, status string) []temporal.SearchAttributeUpdate {
	all := in.TargetIDs()
	ids := make([]string, 0, len(all))
	idsSize := 0
	for _, id := range all {
		if idsSize+len(id)+3 > maxSearchIDsBytes {
			break
		}
		idsSize += len(id) + 3
		ids = append(ids, id)
	}
	// The order matters to EventWorkflow: status first, keys last.
	return []temporal.SearchAttributeUpdate{
		SearchStatus.ValueSet(status),
		SearchWorkspace.ValueSet(in.Event.Workspace),
		SearchWebhookIDs.ValueSet(ids),
		SearchEventType.ValueSet(string(in.Event.Type)),
		SearchWebhookKeys.ValueSet(webhookKeys(all)),
	}
}

// webhookKeys is the list of WebhookKey of ids, without repeats, cut to
// fit in one search attribute value (MaxSearchableTargets keys fit).
func webhookKeys(ids []string) []string {
	keys := make([]string, 0, min(len(ids), MaxSearchableTargets))
	seen := map[string]bool{}
	size := 1 // the JSON list's brackets, less the first comma
	for _, id := range ids {
		k := WebhookKey(id)
		if seen[k] {
			continue
		}
		if size+len(k)+3 > maxSearchValueBytes {
			break // more targets than MaxSearchableTargets
		}
		seen[k] = true
		size += len(k) + 3
		keys = append(keys, k)
	}
	return keys
}

// skippedKeys is the list of WebhookKey of the deliveries of ds that
// were skipped (empty when none was).
func skippedKeys(ds []DeliveryResult) []string {
	var ids []string
	for _, d := range ds {
		if d.Status == StatusSkipped {
			ids = append(ids, d.WebhookID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return webhookKeys(ids)
}

// eventStatus sums up deliveries: delivered, failed, skipped (every
// delivery's webhook disabled) or partial. With skipsAside (version 2 of
// search-skipped-keys), skipped deliveries next to others are left out:
// an event none of whose deliveries failed and some delivered is
// delivered (its skips are found through HariSkippedKeys), so that the
// health of the webhooks it went to does not read it as a failure;
// without, it is partial (histories recorded before).
func eventStatus(ds []DeliveryResult, skipsAside bool) string {
	var ok, failed, skipped int
	for _, d := range ds {
		switch d.Status {
		case StatusDelivered:
			ok++
		case StatusFailed:
			failed++
		case StatusSkipped:
			skipped++
		}
	}
	switch {
	case skipped > 0 && ok == 0 && failed == 0:
		return StatusSkipped
	case failed == 0 && skipped == 0:
		return StatusDelivered
	case ok == 0 && skipped == 0:
		return StatusFailed
	case skipsAside && failed == 0:
		return StatusDelivered // ok > 0: something was delivered, nothing failed
	}
	return StatusPartial
}
