package delivery

import (
	"strings"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		name    string
		class   Class
		code    int
		ms      int64
		url     string
		problem []string // each must appear in Problem
		next    string   // must appear in Next
	}{
		{"closed port", ClassConnectionRefused, 0, 0, "https://127.0.0.1:9/hook", []string{"Couldn't connect to 127.0.0.1 on port 9: nothing is listening."}, "Check the URL and that your server is running."},
		{"default port", ClassConnectionRefused, 0, 3, "https://erp.example.com/hook", []string{"erp.example.com on port 443"}, "server is running"},
		{"timeout shows the real wait", ClassTimeout, 0, 10002, "https://slow.example.com/x", []string{"slow.example.com", "gave up after 10.0 s", "limit is 15.0 s"}, "answer quickly"},
		{"tls", ClassTLS, 0, 40, "https://self-signed.example.com:8443/", []string{"secure (HTTPS) connection with self-signed.example.com on port 8443"}, "valid certificate for self-signed.example.com"},
		{"dns", ClassDNS, 0, 12, "https://no-such-host.invalid/", []string{"no-such-host.invalid could not be found"}, "spelling"},
		{"reset", ClassConnectionReset, 0, 5, "https://a.example.com/", []string{"closed the connection"}, "logs"},
		{"blocked", ClassBlocked, 0, 0, "https://10.0.0.1/", []string{"does not send to 10.0.0.1", "private"}, "public address"},
		{"invalid target", ClassInvalidTarget, 0, 0, "http://a.example.com/", []string{"cannot send to this URL"}, "https://"},
		{"network", ClassNetwork, 0, 1, "https://a.example.com:444/", []string{"Couldn't reach a.example.com on port 444"}, "Check the URL"},
		{"404", ClassHTTPStatus, 404, 20, "https://a.example.com/x", []string{"a.example.com answered HTTP 404 Not Found.", "does not retry"}, "path in the URL"},
		{"401", ClassHTTPStatus, 401, 20, "https://a.example.com/x", []string{"HTTP 401 Unauthorized", "does not retry"}, "X-Webhook-Signature"},
		{"503 is retried", ClassHTTPStatus, 503, 20, "https://a.example.com/x", []string{"HTTP 503 Service Unavailable", "retries it"}, "logs"},
		{"429 is retried", ClassHTTPStatus, 429, 20, "https://a.example.com/x", []string{"HTTP 429 Too Many Requests", "retries it"}, "busy"},
		{"redirect", ClassHTTPStatus, 301, 20, "https://a.example.com/x", []string{"HTTP 301", "does not follow redirects"}, "redirect points to"},
		{"no class, no status", ClassNone, 0, 0, "https://a.example.com/x", []string{"The attempt failed."}, "technical details"},
	}
	for _, tt := range tests {
		h := Explain(tt.class, tt.code, tt.ms, tt.url)
		if h == nil {
			t.Errorf("%s: got no explanation, want one", tt.name)
			continue
		}
		for _, want := range tt.problem {
			if !strings.Contains(h.Problem, want) {
				t.Errorf("%s: problem got %q, want it to contain %q", tt.name, h.Problem, want)
			}
		}
		if !strings.Contains(h.Next, tt.next) {
			t.Errorf("%s: next step got %q, want it to contain %q", tt.name, h.Next, tt.next)
		}
		if strings.Contains(h.Problem+h.Next, "/hook") || strings.Contains(h.Problem+h.Next, "/x") {
			t.Errorf("%s: got %q %q, want the URL's path left out (it can hold a token)", tt.name, h.Problem, h.Next)
		}
	}
	if h := Explain(ClassNone, 200, 30, "https://a.example.com/"); h != nil {
		t.Errorf("a 2xx: got %+v, want no explanation", h)
	}
}

func TestSeconds(t *testing.T) {
	for ms, want := range map[int64]string{0: "0 ms", 850: "850 ms", 1000: "1.0 s", 10002: "10.0 s", 15000: "15.0 s"} {
		if got := Seconds(ms); got != want {
			t.Errorf("Seconds(%d): got %q, want %q", ms, got, want)
		}
	}
}

func TestNextRetryAt(t *testing.T) {
	t0 := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	fail := func(n int, at time.Time, ms int64) Attempt {
		return Attempt{Number: n, StartedAt: at, DurationMS: ms, StatusCode: 503, Class: ClassHTTPStatus}
	}
	tests := []struct {
		name     string
		attempts []Attempt
		want     time.Time
		ok       bool
	}{
		{"none yet", nil, time.Time{}, false},
		{"after attempt 1: 1 s", []Attempt{fail(1, t0, 200)}, t0.Add(1200 * time.Millisecond), true},
		{"after attempt 2: 2 s", []Attempt{fail(1, t0, 0), fail(2, t0.Add(time.Second), 500)}, t0.Add(3500 * time.Millisecond), true},
		{"after attempt 3: 4 s", []Attempt{fail(1, t0, 0), fail(2, t0, 0), fail(3, t0, 0)}, t0.Add(4 * time.Second), true},
		{"all spent", []Attempt{fail(1, t0, 0), fail(2, t0, 0), fail(3, t0, 0), fail(4, t0, 0)}, time.Time{}, false},
		{"a 404 is not retried", []Attempt{{Number: 1, StartedAt: t0, StatusCode: 404, Class: ClassHTTPStatus}}, time.Time{}, false},
		{"delivered", []Attempt{{Number: 1, StartedAt: t0, StatusCode: 200}}, time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := NextRetryAt(tt.attempts)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// A Test fire makes one attempt: where a delivery would be retried, its
// help says so and never claims that HARi retries it; other outcomes read
// as for a delivery.
func TestExplainTestFireSaysItSendsOnce(t *testing.T) {
	for _, code := range []int{503, 500, 429, 408} {
		h := ExplainTestFire(ClassHTTPStatus, code, 20, "https://a.example.com/x")
		if h == nil || strings.Contains(h.Problem, "HARi retries it") || !strings.Contains(h.Problem, "Test fire sends once") {
			t.Errorf("%d: got %+v, want the one-attempt wording", code, h)
		}
		if d := Explain(ClassHTTPStatus, code, 20, "https://a.example.com/x"); !strings.Contains(d.Problem, "HARi retries it") {
			t.Errorf("%d: a delivery's help %q lost the retry", code, d.Problem)
		}
	}
	for _, c := range []struct {
		class Class
		code  int
	}{{ClassHTTPStatus, 404}, {ClassConnectionRefused, 0}, {ClassTimeout, 0}} {
		got, want := ExplainTestFire(c.class, c.code, 20, "https://a.example.com:8443/x"), Explain(c.class, c.code, 20, "https://a.example.com:8443/x")
		if *got != *want {
			t.Errorf("%s %d: got %+v, want the delivery's %+v", c.class, c.code, got, want)
		}
	}
	if h := ExplainTestFire(ClassNone, 200, 20, "https://a.example.com/x"); h != nil {
		t.Errorf("200: got %+v, want no help", h)
	}
}
