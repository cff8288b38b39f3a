package workflows

import (
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// A redelivery sends one delivery of an earlier event again: an
// EventWorkflow of its own, started with the original event and the one
// routed target (the webhook's current URL and secret, the original
// delivery's field selection), so the body is the same bytes and the
// X-Webhook-Id the same delivery ID. Its workflow ID is derived from the
// original delivery and a key, so that two requests with the same key
// start it once.
const redeliveryIDPrefix = "webhook-redelivery:"

// SearchRedeliveryOf marks a redelivery in the execution log: the
// workflow ID of the event workflow whose delivery it sends again.
var SearchRedeliveryOf = temporal.NewSearchAttributeKeyKeyword("HariRedeliveryOf")

// RedeliveryKeyRecovery is the key of the first redelivery a recovery
// starts for a delivery; RecoveryRedeliveryKey numbers the next ones. A
// recovery reuses a delivery's recovery redelivery while it runs or once
// it was delivered, and starts the next one only after one failed, so a
// delivery is sent at most once successfully however many recoveries
// cover it, and a recovery that failed does not use it up.
const RedeliveryKeyRecovery = "recovery"

// MaxRecoveryRedeliveries bounds the recovery redeliveries of one delivery.
const MaxRecoveryRedeliveries = 20

// RecoveryRedeliveryKey is the key of the n-th recovery redelivery of a
// delivery (from 1).
func RecoveryRedeliveryKey(n int) string {
	if n <= 1 {
		return RedeliveryKeyRecovery
	}
	return RedeliveryKeyRecovery + "-" + strconv.Itoa(n)
}

// RedeliveryWorkflowID is the workflow ID of a redelivery:
// "webhook-redelivery:<workspace>:<key>:<delivery id>". Workspace names
// and keys hold no ':', so the delivery ID (which may) is the rest.
func RedeliveryWorkflowID(workspace, key, deliveryID string) string {
	return redeliveryIDPrefix + workspace + ":" + key + ":" + deliveryID
}

// ParseRedeliveryWorkflowID splits a redelivery's workflow ID; ok is false
// for any other ID.
func ParseRedeliveryWorkflowID(id string) (workspace, key, deliveryID string, ok bool) {
	rest, ok := strings.CutPrefix(id, redeliveryIDPrefix)
	if !ok {
		return "", "", "", false
	}
	workspace, rest, ok = strings.Cut(rest, ":")
	if !ok || workspace == "" {
		return "", "", "", false
	}
	key, deliveryID, ok = strings.Cut(rest, ":")
	if !ok || key == "" || deliveryID == "" {
		return "", "", "", false
	}
	return workspace, key, deliveryID, true
}

// RedeliverySearchAttributes are a redelivery's search attributes: those
// of any event workflow, and SearchRedeliveryOf naming the original.
func RedeliverySearchAttributes(in EventInput, originalWorkflowID string) temporal.SearchAttributes {
	updates := append(searchUpdates(in, StatusPending), SearchRedeliveryOf.ValueSet(originalWorkflowID))
	return temporal.NewSearchAttributes(updates...)
}

// SplitDeliveryID is the event ID of a delivery ID (DeliveryID) to the
// webhook webhookID; ok is false when the delivery is not that webhook's.
func SplitDeliveryID(deliveryID, webhookID string) (eventID string, ok bool) {
	eventID, ok = strings.CutSuffix(deliveryID, ":"+webhookID)
	return eventID, ok && eventID != ""
}
