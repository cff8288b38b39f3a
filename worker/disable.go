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
	s := sweep{since: time.Now().Add(-every - disableMargin)}
	autoDisable := func(ctx context.Context, since time.Time, again publisher.Unread) (publisher.DisableRun, error) {
		return pub.AutoDisable(ctx, reg, rule, since, again)
	}
	for {
		s.step(ctx, autoDisable, time.Now(), logger)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// sweep is what one auto-disable run hands the next: where to list from,
// and what it could not read.
type sweep struct {
	since  time.Time
	unread publisher.Unread
}

// step runs one auto-disable run started at start. Once the failed events
// were listed, the next run lists from start (less the margin) and reads
// again only the webhooks and events this one could not; when the listing
// failed, the next run lists from the same since again.
func (s *sweep) step(ctx context.Context, run func(ctx context.Context, since time.Time, again publisher.Unread) (publisher.DisableRun, error), start time.Time, logger zerolog.Logger) {
	out, err := run(ctx, s.since, s.unread)
	if err != nil {
		if ctx.Err() == nil {
			logger.Error().Err(err).Msg("auto-disable: the execution log could not be listed; trying again next time")
		}
		return
	}
	for _, d := range out.Disabled {
		logger.Warn().Str("workspace", d.Workspace).Str("webhook", d.WebhookID).Str("reason", d.Reason).Msg("disabled a webhook whose endpoint kept failing")
	}
	if out.Err != nil && ctx.Err() == nil {
		logger.Error().Err(out.Err).Int("webhooks", len(out.Unread.Webhooks)).Int("events", len(out.Unread.Events)).Msg("auto-disable: some could not be read; reading them again next time")
	}
	s.since, s.unread = start.Add(-disableMargin), out.Unread
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
