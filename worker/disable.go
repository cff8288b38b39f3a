package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
)

// disableMargin is how far back each auto-disable run looks before the
// previous one: visibility's lag, so that no failure falls between runs.
const disableMargin = time.Minute

// sweepFailing disables, every every, the webhooks whose endpoints kept
// failing (rule), from the execution log: nothing is written per delivery.
func sweepFailing(ctx context.Context, pub *publisher.Publisher, reg *registry.Client, rule publisher.DisableRule, every time.Duration, logger zerolog.Logger) {
	since := time.Now().Add(-every - disableMargin)
	for {
		start := time.Now()
		out, err := pub.AutoDisable(ctx, reg, rule, since)
		for _, d := range out {
			logger.Warn().Str("workspace", d.Workspace).Str("webhook", d.WebhookID).Str("reason", d.Reason).Msg("disabled a webhook whose endpoint kept failing")
		}
		if err != nil && ctx.Err() == nil {
			logger.Error().Err(err).Msg("auto-disable: the execution log could not be read; trying again next time")
		} else {
			since = start.Add(-disableMargin)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// spanBeyondRetention says why rule can never be met when its span is at
// or above the namespace's retention (the failures it needs are deleted
// first), or "". A retention of 0 is unknown.
func spanBeyondRetention(rule publisher.DisableRule, retention time.Duration) string {
	if retention <= 0 || rule.Span < retention {
		return ""
	}
	return fmt.Sprintf("HARI_DISABLE_SPAN (%s) is not below the namespace's retention (%s): closed deliveries are deleted before a streak can span it, so auto-disable can never fire", rule.Span, retention)
}

// warnSpanRetention logs spanBeyondRetention for namespace ns.
func warnSpanRetention(ctx context.Context, c client.Client, ns string, rule publisher.DisableRule, logger zerolog.Logger) {
	resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err != nil {
		logger.Warn().Err(err).Msg("auto-disable: the namespace's retention could not be read")
		return
	}
	if msg := spanBeyondRetention(rule, resp.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()); msg != "" {
		logger.Warn().Msg(msg)
	}
}
