package publisher

import (
	"context"
	"fmt"
	"slices"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/workflows"
)

// Health is how a webhook's endpoint has been doing, derived from the
// execution log (visibility): nothing is written per delivery to compute
// it.
type Health struct {
	// SuccessRate24h is the share of deliveries (redeliveries included)
	// finished in the last 24 h that were delivered, from 0 to 1; null
	// when none finished.
	SuccessRate24h *float64 `json:"success_rate_24h"`
	Delivered24h   int      `json:"delivered_24h"`
	Failed24h      int      `json:"failed_24h"`
	// ConsecutiveFailures counts the failed deliveries since the last one
	// delivered. The newest MaxHealthScan are read one by one; when there
	// are more (More), the streak is counted in visibility instead: the
	// webhook's failed and partly failed events started after its newest
	// delivered event.
	ConsecutiveFailures int  `json:"consecutive_failures"`
	More                bool `json:"more,omitempty"`
	// FailingSince is when the oldest of those was published (to within a
	// second beyond the scan).
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// LastError is the newest failed delivery's reason, in words.
	LastError string `json:"last_error,omitempty"`
	// LastHelp puts the last attempt of that delivery in plain language
	// (delivery.Explain), for a page to show instead of LastError.
	LastHelp *delivery.Help `json:"last_help,omitempty"`
}

// MaxHealthScan bounds the deliveries Health reads for the consecutive
// failures.
const MaxHealthScan = 1000

// maxPartialReads bounds the partial events (several webhooks, some
// delivered) whose result Health reads for the 24 h rate.
const maxPartialReads = 100

// Health computes webhook webhookID's health now.
func (p *Publisher) Health(ctx context.Context, ws, webhookID string) (Health, error) {
	base, err := DeliveriesQuery(ws, webhookID)
	if err != nil {
		return Health{}, err
	}
	var h Health
	day := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339Nano)
	count := func(status string) (int, error) {
		resp, err := p.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf("%s AND %s = '%s' AND CloseTime >= '%s'", base, workflows.SearchStatus.GetName(), status, day),
		})
		if err != nil {
			return 0, fmt.Errorf("count %s deliveries: %w", status, err)
		}
		return int(resp.GetCount()), nil
	}
	if h.Delivered24h, err = count(workflows.StatusDelivered); err != nil {
		return Health{}, err
	}
	// An event delivered to other webhooks whose delivery to this one
	// was skipped (disabled) is delivered too: it is not this webhook's.
	skippedHere := fmt.Sprintf("%s = '%s'", workflows.SearchSkippedKeys.GetName(), workflows.WebhookKey(webhookID))
	resp, err := p.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s AND %s = '%s' AND %s AND CloseTime >= '%s'", base, workflows.SearchStatus.GetName(), workflows.StatusDelivered, skippedHere, day),
	})
	if err != nil {
		return Health{}, fmt.Errorf("count skipped deliveries: %w", err)
	}
	h.Delivered24h -= int(resp.GetCount())
	if h.Failed24h, err = count(workflows.StatusFailed); err != nil {
		return Health{}, err
	}
	partial, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("%s AND %s = '%s' AND CloseTime >= '%s'", base, workflows.SearchStatus.GetName(), workflows.StatusPartial, day),
		PageSize: maxPartialReads,
	})
	if err != nil {
		return Health{}, fmt.Errorf("list partial deliveries: %w", err)
	}
	for _, ex := range partial.GetExecutions() {
		d, ok, err := p.deliveryOf(ctx, ex.GetExecution().GetWorkflowId(), webhookID)
		if err != nil {
			return Health{}, err
		}
		switch {
		case !ok:
		case d.Status == workflows.StatusDelivered:
			h.Delivered24h++
		case d.Status == workflows.StatusFailed:
			h.Failed24h++
		}
	}
	if n := h.Delivered24h + h.Failed24h; n > 0 {
		rate := float64(h.Delivered24h) / float64(n)
		h.SuccessRate24h = &rate
	}

	// The streak starts again when the webhook was last activated or
	// re-enabled.
	var from time.Time
	if st, ok := p.targets.(webhookStates); ok {
		if v, err := st.Get(ctx, ws, webhookID); err == nil && v.EnabledAt != nil {
			from = *v.EnabledAt
		}
	}
	// Newest finished first (visibility orders closed workflows by close
	// time), until one was delivered.
	query := fmt.Sprintf("%s AND %s IN ('%s', '%s', '%s')", base, workflows.SearchStatus.GetName(), workflows.StatusDelivered, workflows.StatusFailed, workflows.StatusPartial)
	var token []byte
	seen := 0
	for {
		resp, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 200, NextPageToken: token})
		if err != nil {
			return Health{}, fmt.Errorf("list deliveries: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			if seen >= MaxHealthScan {
				h.More = true
				if err := p.streakBeyondScan(ctx, base, webhookID, from, &h); err != nil {
					return Health{}, err
				}
				return h, nil
			}
			seen++
			// The list is in close-time order, not start-time order: an
			// event started before the re-enable may close after events
			// started since (it retried longer), so it is passed over,
			// not taken for the end. Once events closed before the
			// re-enable, every one after them did too, and started before.
			if ex.GetCloseTime().AsTime().Before(from) {
				return h, nil
			}
			if ex.GetStartTime().AsTime().Before(from) {
				continue // before the webhook was re-enabled
			}
			if skippedFor(ex.GetSearchAttributes(), webhookID) {
				continue // not attempted here: the webhook was disabled
			}
			status := ""
			if v := ex.GetSearchAttributes().GetIndexedFields()[workflows.SearchStatus.GetName()]; v != nil {
				_ = converter.GetDefaultDataConverter().FromPayload(v, &status) // search attributes are never encrypted
			}
			switch status {
			case workflows.StatusDelivered:
				return h, nil
			case workflows.StatusSkipped:
				continue // not attempted: the webhook was disabled
			}
			wid := ex.GetExecution().GetWorkflowId()
			if status == workflows.StatusPartial || h.ConsecutiveFailures == 0 {
				d, ok, err := p.deliveryOf(ctx, wid, webhookID)
				if err != nil {
					return Health{}, err
				}
				if !ok || d.Status == workflows.StatusSkipped {
					continue
				}
				if d.Status == workflows.StatusDelivered {
					return h, nil
				}
				if h.LastError == "" {
					h.LastError = d.Error
					if n := len(d.Attempts); n > 0 {
						a := d.Attempts[n-1]
						h.LastHelp = delivery.Explain(a.Class, a.StatusCode, a.DurationMS, d.URL)
					}
				}
			}
			h.ConsecutiveFailures++
			at := ex.GetStartTime().AsTime()
			h.FailingSince = &at
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return h, nil
		}
	}
}

// skippedFor reports whether an event's search attributes list webhookID
// in HariSkippedKeys: its delivery there was skipped, the webhook
// disabled (whatever the event's status).
func skippedFor(sa *commonpb.SearchAttributes, webhookID string) bool {
	v := sa.GetIndexedFields()[workflows.SearchSkippedKeys.GetName()]
	var keys []string
	if v == nil || converter.GetDefaultDataConverter().FromPayload(v, &keys) != nil {
		return false
	}
	return slices.Contains(keys, workflows.WebhookKey(webhookID))
}

// deliveryOf reads a finished event workflow's delivery to webhookID.
func (p *Publisher) deliveryOf(ctx context.Context, workflowID, webhookID string) (workflows.DeliveryResult, bool, error) {
	var res workflows.EventResult
	if err := p.c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return workflows.DeliveryResult{}, false, fmt.Errorf("read the outcome of %s: %w", workflowID, err)
	}
	for _, d := range res.Deliveries {
		if d.WebhookID == webhookID {
			return d, true, nil
		}
	}
	return workflows.DeliveryResult{}, false, nil
}

// NotSent counts webhook webhookID's deliveries skipped since since (the
// webhook disabled): events that matched it and were not sent. An event
// lists the webhooks whose delivery it skipped in HariSkippedKeys, also
// when it went to other webhooks too; an event recorded before that
// attribute existed is found by its HariDeliveryStatus skipped (every
// delivery skipped), so such an event that also went to another webhook
// is not counted.
func (p *Publisher) NotSent(ctx context.Context, ws, webhookID string, since time.Time) (int, error) {
	base, err := DeliveriesQuery(ws, webhookID)
	if err != nil {
		return 0, err
	}
	resp, err := p.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s AND (%s = '%s' OR %s = '%s') AND StartTime >= '%s'", base,
			workflows.SearchSkippedKeys.GetName(), workflows.WebhookKey(webhookID),
			workflows.SearchStatus.GetName(), workflows.StatusSkipped, since.UTC().Format(time.RFC3339Nano)),
	})
	if err != nil {
		return 0, fmt.Errorf("count skipped deliveries: %w", err)
	}
	return int(resp.GetCount()), nil
}
