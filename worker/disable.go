package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

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
