// Package metrics exposes the worker's Prometheus metrics: deliveries by
// outcome, attempts by result with their latency, in-flight attempts,
// limiter waits, and the Temporal SDK's own metrics (through SDKHandler).
//
// No metric carries a workspace name: /metrics is read by whoever can
// reach it (a scraper, a sidecar), and tenant names are customer data. A
// per-workspace series would also live forever once created. The in-flight
// gauge is therefore one aggregate; per-workspace load is seen through
// Temporal visibility (HariWorkspace) instead.
package metrics

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdkmetrics "go.temporal.io/sdk/client"
)

// Metrics holds the service's collectors. A nil *Metrics records nothing.
type Metrics struct {
	reg         *prometheus.Registry
	attempts    *prometheus.CounterVec
	attemptTime *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	waits       *prometheus.CounterVec
	waitTime    *prometheus.HistogramVec
}

// New registers the collectors (and Go/process collectors) in a fresh
// registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hari_webhook_attempts_total",
			Help: "HTTP delivery attempts by result: 2xx, 3xx, 4xx, 5xx, or the error class (timeout, connection_refused, tls, ...).",
		}, []string{"result"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hari_webhook_attempt_duration_seconds",
			Help:    "Duration of HTTP delivery attempts, from request to the end of the (capped) response body.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hari_webhook_inflight_attempts",
			Help: "HTTP attempts in progress in this worker, all workspaces together.",
		}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hari_webhook_limiter_waits_total",
			Help: "Deliveries that found their workspace at its limit, by how the wait ended: acquired or busy (handed back to the workflow).",
		}, []string{"outcome"}),
		waitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hari_webhook_limiter_wait_seconds",
			Help:    "Time spent waiting for a workspace slot.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.attempts, m.attemptTime, m.inFlight, m.waits, m.waitTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Attempt records one HTTP attempt.
func (m *Metrics) Attempt(statusCode int, class string, d time.Duration) {
	if m == nil {
		return
	}
	result := class
	if result == "" || result == "http_status" {
		result = strconv.Itoa(statusCode/100) + "xx"
	}
	m.attempts.WithLabelValues(result).Inc()
	m.attemptTime.WithLabelValues(result).Observe(d.Seconds())
}

// InFlight adds delta to the in-flight attempts. The workspace is not
// recorded (see the package comment).
func (m *Metrics) InFlight(_ string, delta float64) {
	if m == nil {
		return
	}
	m.inFlight.Add(delta)
}

// Wait records a wait for a workspace slot.
func (m *Metrics) Wait(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.waits.WithLabelValues(outcome).Inc()
	m.waitTime.WithLabelValues(outcome).Observe(d.Seconds())
}

// SDKHandler feeds the Temporal SDK's metrics (and workflow metrics such as
// hari_webhook_deliveries_total) into the same registry.
func (m *Metrics) SDKHandler() sdkmetrics.MetricsHandler {
	return &sdkHandler{m: m, vecs: &vecs{byName: map[string]*vec{}}}
}

type vecs struct {
	mu     sync.Mutex
	byName map[string]*vec
}

// vec is one metric name; its label names are those of its first use
// (the SDK uses a stable set per name; other tags are dropped, missing
// ones are empty).
type vec struct {
	labels  []string
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	timer   *prometheus.HistogramVec
}

type sdkHandler struct {
	m    *Metrics
	vecs *vecs
	tags map[string]string
}

func (h *sdkHandler) WithTags(tags map[string]string) sdkmetrics.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &sdkHandler{m: h.m, vecs: h.vecs, tags: merged}
}

func promName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':' {
			return r
		}
		return '_'
	}, name)
}

func (h *sdkHandler) get(name, kind string) (*vec, []string) {
	h.vecs.mu.Lock()
	defer h.vecs.mu.Unlock()
	key := kind + ":" + name
	v, ok := h.vecs.byName[key]
	if !ok {
		labels := make([]string, 0, len(h.tags))
		for k := range h.tags {
			labels = append(labels, promName(k))
		}
		sort.Strings(labels)
		v = &vec{labels: labels}
		n := promName(name)
		var c prometheus.Collector
		switch kind {
		case "counter":
			v.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: "Temporal SDK metric " + name}, labels)
			c = v.counter
		case "gauge":
			v.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK metric " + name}, labels)
			c = v.gauge
		default:
			v.timer = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n + "_seconds", Help: "Temporal SDK metric " + name, Buckets: prometheus.DefBuckets}, labels)
			c = v.timer
		}
		if err := h.m.reg.Register(c); err != nil {
			// A name clash (same name, other kind): record nothing.
			v = &vec{}
		}
		h.vecs.byName[key] = v
	}
	values := make([]string, len(v.labels))
	for i, l := range v.labels {
		for k, val := range h.tags {
			if promName(k) == l {
				values[i] = val
			}
		}
	}
	return v, values
}

type counterFunc func(int64)

func (f counterFunc) Inc(n int64) { f(n) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

func (h *sdkHandler) Counter(name string) sdkmetrics.MetricsCounter {
	v, values := h.get(name, "counter")
	return counterFunc(func(n int64) {
		if v.counter != nil {
			v.counter.WithLabelValues(values...).Add(float64(n))
		}
	})
}

func (h *sdkHandler) Gauge(name string) sdkmetrics.MetricsGauge {
	v, values := h.get(name, "gauge")
	return gaugeFunc(func(x float64) {
		if v.gauge != nil {
			v.gauge.WithLabelValues(values...).Set(x)
		}
	})
}

func (h *sdkHandler) Timer(name string) sdkmetrics.MetricsTimer {
	v, values := h.get(name, "timer")
	return timerFunc(func(d time.Duration) {
		if v.timer != nil {
			v.timer.WithLabelValues(values...).Observe(d.Seconds())
		}
	})
}
