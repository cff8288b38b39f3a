// Package tclient builds the Temporal client every entry point uses: the
// same address, namespace, payload codec and logger configuration.
package tclient

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/hari-crm/webhooks/codec"
)

// Defaults of the embedded setup.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// RPCTimeout bounds an SDK call whose context has no shorter deadline:
// the HTTP API's deadline (30 s), not the SDK's default of 10 s. A query
// answered by a worker that is busy (a registry read while an outage's
// retries load the machine) then answers late instead of failing. The
// calls that must not wait bound their contexts themselves (routing at
// publish, the body query); Test fire is bounded by its activity's
// timeouts.
const RPCTimeout = 30 * time.Second

// Config says where Temporal is and how payloads are sealed.
type Config struct {
	Address   string
	Namespace string
	// Keys seals payloads; nil sends them in plaintext (never in
	// production: secrets and record fields would sit in history).
	Keys *codec.Keyring
	// Metrics receives the SDK's metrics; nil drops them.
	Metrics client.MetricsHandler
}

// Options returns client options for cfg, logging through logger.
func (cfg Config) Options(logger zerolog.Logger) client.Options {
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
		Logger:    Logger(logger),
		// A caller's shorter deadline takes precedence.
		RPCTimeout: RPCTimeout,
		ConnectionOptions: client.ConnectionOptions{
			// Requests go uncompressed (the SDK gzips them by default):
			// their bulk is codec-sealed payloads, ciphertext that gzip
			// cannot shrink, and compressing every request cost the worker
			// about 18% of its CPU and the server the matching
			// decompression (README, "CPU per delivery on both backends").
			GrpcCompression: &client.GrpcCompressionNone{},
		},
	}
	if cfg.Metrics != nil {
		opts.MetricsHandler = cfg.Metrics
	}
	if cfg.Keys != nil {
		dc := codec.DataConverter(cfg.Keys)
		opts.DataConverter = dc
		opts.FailureConverter = codec.FailureConverter(dc)
	}
	return opts
}

// Dial connects to Temporal.
func Dial(cfg Config, logger zerolog.Logger) (client.Client, error) {
	c, err := client.Dial(cfg.Options(logger))
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s (namespace %s): %w", cfg.Address, cfg.Namespace, err)
	}
	return c, nil
}

// Logger adapts zerolog to Temporal's logger.
func Logger(l zerolog.Logger) tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(zerolog.NewSlogHandler(l)))
}
