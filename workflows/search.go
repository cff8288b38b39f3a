package workflows

import (
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
)

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
	StatusPartial = "partial" // some deliveries failed, some were delivered
)

// SearchAttributes returns an event workflow's search attributes.
func SearchAttributes(in EventInput, status string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(searchUpdates(in, status)...)
}

// maxSearchIDsBytes keeps HariWebhookIDs under Temporal's 2 KB limit per
// search attribute: an event that matches more webhooks than fit lists the
// first ones (its deliveries still happen; the execution log of the others
// does not show it).
const maxSearchIDsBytes = 1800

func searchUpdates(in EventInput, status string) []temporal.SearchAttributeUpdate {
	all := in.TargetIDs()
	ids := make([]string, 0, len(all))
	size := 0
	for _, id := range all {
		if size+len(id)+3 > maxSearchIDsBytes {
			break
		}
		size += len(id) + 3
		ids = append(ids, id)
	}
	return []temporal.SearchAttributeUpdate{
		SearchStatus.ValueSet(status),
		SearchWorkspace.ValueSet(in.Event.Workspace),
		SearchWebhookIDs.ValueSet(ids),
		SearchEventType.ValueSet(string(in.Event.Type)),
	}
}

// eventStatus sums up deliveries: delivered, failed or partial.
func eventStatus(ds []DeliveryResult) string {
	var ok, failed int
	for _, d := range ds {
		switch d.Status {
		case StatusDelivered:
			ok++
		case StatusFailed:
			failed++
		}
	}
	switch {
	case failed == 0:
		return StatusDelivered
	case ok == 0:
		return StatusFailed
	}
	return StatusPartial
}
