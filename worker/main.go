// Command worker runs the HARi webhook delivery worker: it polls the task
// queue, makes delivery attempts, and serves the codec endpoint (for the
// Temporal Web UI) and a health check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/limiter"
	"github.com/hari-crm/webhooks/metrics"
	"github.com/hari-crm/webhooks/netguard"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/settings"
	"github.com/hari-crm/webhooks/tclient"
	"github.com/hari-crm/webhooks/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	address := fs.String("address", env("TEMPORAL_ADDRESS", tclient.DefaultAddress), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	namespace := fs.String("namespace", env("TEMPORAL_NAMESPACE", tclient.DefaultNamespace), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	taskQueue := fs.String("task-queue", env("HARI_TASK_QUEUE", workflows.TaskQueue), "task queue to poll (env HARI_TASK_QUEUE)")
	httpAddr := fs.String("http", env("HARI_HTTP_ADDR", "127.0.0.1:8234"), "address of the HTTP API, codec endpoint and health check (env HARI_HTTP_ADDR)")
	uiOrigins := fs.String("ui-origin", env("HARI_UI_ORIGIN", "http://localhost:8233,http://127.0.0.1:8233"), "Web UI origins allowed to call the codec endpoint (env HARI_UI_ORIGIN)")
	uiURL := fs.String("temporal-ui", env("HARI_TEMPORAL_UI", "http://localhost:8233"), "Temporal Web UI base URL, for links from the Settings page (env HARI_TEMPORAL_UI)")
	allowCIDRs := fs.String("allow-cidrs", os.Getenv("HARI_ALLOW_CIDRS"), "internal CIDRs webhooks may reach anyway, for development (env HARI_ALLOW_CIDRS; none in production)")
	redisAddr := fs.String("redis", os.Getenv("HARI_REDIS_ADDR"), "Redis host:port for the limit shared by all workers (env HARI_REDIS_ADDR; empty: an in-process limit, for one worker)")
	ev := &envs{}
	lease := fs.Duration("lease", ev.duration("HARI_LEASE", limiter.DefaultLease), "how long a dead worker's slots stay taken (env HARI_LEASE)")
	attemptTimeout := fs.Duration("attempt-timeout", ev.duration("HARI_ATTEMPT_TIMEOUT", delivery.AttemptTimeout), "bound of one delivery attempt, at most the spec's 15s; shorter only for tests (env HARI_ATTEMPT_TIMEOUT)")
	limit := fs.Int("workspace-limit", ev.int("HARI_WORKSPACE_LIMIT", limiter.DefaultLimit), "maximum concurrent deliveries per workspace (env HARI_WORKSPACE_LIMIT)")
	level := fs.String("log-level", env("HARI_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env HARI_LOG_LEVEL)")
	pretty := fs.Bool("log-console", os.Getenv("HARI_LOG_CONSOLE") == "1", "human-readable logs instead of JSON (env HARI_LOG_CONSOLE=1)")
	dev := fs.Bool("dev", false, "development: start without API signing keys (the API then takes no token) and without a codec token (make run sets it)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	recoverEvery := ev.durationOrOff("HARI_RECOVER_EVERY", 10*time.Minute)
	allowDirect := ev.bool("HARI_ALLOW_DIRECT_TARGETS", false)
	disableEvery := ev.durationOrOff("HARI_DISABLE_EVERY", time.Minute)
	disableRule := publisher.DisableRule{
		After: ev.int("HARI_DISABLE_AFTER", publisher.DefaultDisableRule.After),
		Span:  ev.duration("HARI_DISABLE_SPAN", publisher.DefaultDisableRule.Span),
	}
	if err := ev.err(); err != nil {
		return err
	}
	if err := checkLimits(*lease, *attemptTimeout, *limit); err != nil {
		return err
	}
	access, err := loadAccess(*dev, os.Getenv("HARI_CODEC_TOKEN"), strings.Split(*uiOrigins, ","))
	if err != nil {
		return err
	}
	access.codec.WebUI = *uiURL

	logger, err := newLogger(*level, *pretty)
	if err != nil {
		return err
	}
	keys, err := codec.LoadKeys()
	if err != nil {
		return err
	}
	m := metrics.New()
	cfg := tclient.Config{Address: *address, Namespace: *namespace, Keys: keys, Metrics: m.SDKHandler()}
	allow, err := netguard.ParseAllow(*allowCIDRs)
	if err != nil {
		return err
	}
	guard := netguard.New(allow)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, err := tclient.Dial(cfg, logger.With().Str("component", "temporal").Logger())
	if err != nil {
		return err
	}
	defer c.Close()

	if err := service.EnsureSearchAttributes(ctx, c, *namespace); err != nil {
		logger.Warn().Err(err).Msg("search attributes could not be registered")
	}
	// Without them every event would stay open, its outcome unrecorded.
	if err := service.CheckSearchAttributes(ctx, c, *namespace, 10*time.Second); err != nil {
		return err
	}
	var shared activities.Limiter
	if *redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, Password: os.Getenv("HARI_REDIS_PASSWORD"), PoolSize: 200})
		defer rdb.Close()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("connect to redis at %s: %w", *redisAddr, err)
		}
		shared = limiter.NewRedis(rdb, *limit, *lease)
	}
	reg := registry.New(c, registry.Options{Sealer: keys, TaskQueue: *taskQueue, Hosts: guard, DataConverter: codec.DataConverter(keys)})
	// The API refuses direct secrets up front when the worker does.
	pub := publisher.New(c, publisher.Options{TaskQueue: *taskQueue, DataConverter: codec.DataConverter(keys), Router: reg, Hosts: guard, RecoveryConcurrency: max(1, *limit/5), AllowDirectSecrets: allowDirect})
	w, err := service.NewWorker(c, service.Options{TaskQueue: *taskQueue, WorkspaceLimit: *limit, Secrets: keys, Limiter: shared, Metrics: m, AttemptTimeout: *attemptTimeout,
		HTTPClient: activities.NewHTTPClient(activities.ClientOptions{Control: guard.Control}), Recovery: pub,
		Router: reg.FailFast(), DataConverter: codec.DataConverter(keys), AllowDirectSecrets: allowDirect})
	if err != nil {
		return err
	}

	srv := newHTTPServer(*httpAddr, routes(c, reg, pub, keys, m, *namespace, *uiURL, access), defaultTimeouts)
	if access.api.Open {
		logger.Warn().Msg("development mode without API keys: the HTTP API accepts requests without a token")
	}
	if access.codec.Anonymous && access.codec.Token == "" {
		logger.Warn().Msg("development mode without HARI_CODEC_TOKEN: the codec endpoint decodes for any caller")
	}
	httpErr := make(chan error, 1)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- fmt.Errorf("serve %s: %w", *httpAddr, err)
		}
	}()

	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if disableEvery > 0 {
		warnSpanRetention(ctx, c, *namespace, disableRule, logger)
		go sweepFailing(ctx, pub, reg, disableRule, disableEvery, logger)
	}
	if every := recoverEvery; every > 0 {
		go sweepRegistries(ctx, registry.New(c, registry.Options{TaskQueue: *taskQueue, DataConverter: codec.DataConverter(keys), Sealer: keys}), every, logger)
	}
	logger.Info().Str("temporal", *address).Str("namespace", *namespace).Str("task_queue", *taskQueue).
		Str("http", *httpAddr).Int("workspace_limit", *limit).Bool("allow_direct_targets", allowDirect).Str("codec_key", keys.ActiveKeyID()).Str("allow_cidrs", *allowCIDRs).Str("redis", *redisAddr).Msg("worker started")

	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	logger.Info().Msg("shutting down: finishing in-flight attempts")
	w.Stop() // waits up to the stop timeout for running activities
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	logger.Info().Msg("worker stopped")
	return err
}

func routes(c client.Client, reg *registry.Client, pub *publisher.Publisher, keys *codec.Keyring, m *metrics.Metrics, namespace, uiURL string, access access) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/codec/", codec.Handler(keys, access.codec))
	mux.Handle("GET /metrics", m.Handler())
	hosts := strings.Split(env("HARI_API_HOSTS", "localhost,127.0.0.1,::1"), ",")
	apiServer := access.api
	apiServer.Registry, apiServer.Publisher = reg, pub
	apiServer.Bodies = c   // the execution log's delivery bodies (c decodes with the codec)
	apiServer.Pages = keys // the execution log's page tokens, sealed
	mux.Handle("/api/", apiServer.Handler())
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: uiURL, Namespace: namespace, Workspace: "yourcompany"}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"unavailable","temporal":"unreachable"}`)
			return
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	return api.HostGuard(hosts, mux)
}

func newLogger(level string, pretty bool) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log level %q: %w", level, err)
	}
	var l zerolog.Logger
	if pretty {
		l = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	} else {
		l = zerolog.New(os.Stderr)
	}
	return l.Level(lvl).With().Timestamp().Str("service", "hari-webhooks-worker").Logger(), nil
}
