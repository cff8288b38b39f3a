package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestServiceMetrics(t *testing.T) {
	m := New()
	m.Attempt(200, "", 30*time.Millisecond)
	m.Attempt(503, "http_status", 10*time.Millisecond)
	m.Attempt(0, "timeout", 15*time.Second)
	m.InFlight("acme", 1)
	m.InFlight("acme", 1)
	m.InFlight("acme", -1)
	m.Wait("acquired", 200*time.Millisecond)
	out := scrape(t, m)
	for _, want := range []string{
		`hari_webhook_attempts_total{result="2xx"} 1`,
		`hari_webhook_attempts_total{result="5xx"} 1`,
		`hari_webhook_attempts_total{result="timeout"} 1`,
		`hari_webhook_attempt_duration_seconds_bucket{result="timeout",le="15"} 1`,
		"hari_webhook_inflight_attempts 1\n",
		`hari_webhook_limiter_waits_total{outcome="acquired"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(out, "acme") {
		t.Errorf("metrics reveal the workspace name acme:\n%s", out)
	}
	var nilM *Metrics
	nilM.Attempt(200, "", time.Millisecond) // a nil *Metrics records nothing and does not panic
}

func TestSDKHandler(t *testing.T) {
	m := New()
	h := m.SDKHandler().WithTags(map[string]string{"namespace": "default", "task-queue": "q"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"outcome": "delivered"}).Counter("hari_webhook_deliveries_total").Inc(1)
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	h.Timer("temporal_request_latency").Record(20 * time.Millisecond)
	out := scrape(t, m)
	for _, want := range []string{
		`temporal_request{namespace="default",task_queue="q"} 2`,
		`hari_webhook_deliveries_total{namespace="default",outcome="delivered",task_queue="q"} 1`,
		`temporal_worker_task_slots_available{namespace="default",task_queue="q"} 7`,
		`temporal_request_latency_seconds_count{namespace="default",task_queue="q"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q\n%s", want, out)
		}
	}
}

// /metrics names no tenant, whoever calls it, and keeps no series per
// workspace: after many workspaces' attempts the in-flight gauge is one
// series, back at 0.
func TestNoWorkspaceNamesAndNoSeriesPerWorkspace(t *testing.T) {
	m := New()
	for i := 0; i < 500; i++ {
		ws := "tenant-" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		m.InFlight(ws, 1)
		m.InFlight(ws, -1)
	}
	out := scrape(t, m)
	if strings.Contains(out, "tenant-") || strings.Contains(out, "workspace=") {
		t.Errorf("metrics reveal workspace names:\n%s", out)
	}
	if n := strings.Count(out, "\nhari_webhook_inflight_attempts"); n != 1 {
		t.Errorf("in-flight series: got %d, want 1", n)
	}
	if !strings.Contains(out, "\nhari_webhook_inflight_attempts 0\n") {
		t.Errorf("in-flight gauge: want 0 after every attempt ended")
	}
}
