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
func sweepRegistries(ctx context.Context, reg *registry.Client, every time.Duration, logger zerolog.Logger) {
	for {
		recs, err := reg.RecoverAll(ctx)
		for _, r := range recs {
			logger.Warn().Str("workspace", r.Workspace).Str("ended_run", r.EndedRunID).Str("ended_status", r.EndedStatus).
				Str("run", r.RunID).Int("webhooks", r.Webhooks).Int("test_results", r.TestResults).Msg("recovered an ended webhook registry")
		}
		if err != nil && ctx.Err() == nil {
			logger.Error().Err(err).Msg("registry sweep: some ended registries were not recovered")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
