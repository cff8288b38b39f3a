package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/hari-crm/webhooks/registry"
)

// sweepRegistries recovers the ended registries of the worker's task queue
// at start and then every interval until ctx ends. Reads and writes
// recover a registry on their own; the sweep covers workspaces that nobody
// touches before Temporal's retention drops the ended run (and with it the
// state). Several workers sweeping at once is safe: one run is started.
//
// Its first pass also re-seals, with the worker's active key, every
// webhook secret held in an older seal format or under an older key
// (registry.Client.ResealAll): secrets stored before an upgrade keep
// delivering without waiting for an operator, and a new key put first in
// the ring takes over at the next start. Only a holder of the key ring can
// do this, and the worker is one; nothing without the codec key can plant
// a seal for it to re-seal, since the worker refuses unencrypted payloads.
func sweepRegistries(ctx context.Context, reg *registry.Client, every time.Duration, logger zerolog.Logger) {
	for first := true; ; first = false {
		recs, err := reg.RecoverAll(ctx)
		for _, r := range recs {
			logger.Warn().Str("workspace", r.Workspace).Str("ended_run", r.EndedRunID).Str("ended_status", r.EndedStatus).
				Str("run", r.RunID).Int("webhooks", r.Webhooks).Int("test_results", r.TestResults).Msg("recovered an ended webhook registry")
		}
		if err != nil && ctx.Err() == nil {
			logger.Error().Err(err).Msg("registry sweep: some ended registries were not recovered")
		}
		if first {
			resealAll(ctx, reg, logger)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// resealAll re-seals old seals once and logs what it did, by workspace.
func resealAll(ctx context.Context, reg *registry.Client, logger zerolog.Logger) {
	outs, err := reg.ResealAll(ctx)
	for _, o := range outs {
		switch {
		case o.Error != "":
			logger.Error().Str("workspace", o.Workspace).Str("error", o.Error).Msg("registry sweep: secrets not re-sealed; run starter keys reseal")
		case o.Resealed > 0:
			logger.Info().Str("workspace", o.Workspace).Int("webhooks", o.Resealed).Msg("re-sealed webhook secrets with the active key")
		}
	}
	if err != nil && ctx.Err() == nil && len(outs) == 0 {
		logger.Error().Err(err).Msg("registry sweep: secrets not re-sealed; run starter keys reseal")
	}
}
