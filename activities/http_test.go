package activities

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/signature"
)

func TestNewRequest(t *testing.T) {
	body := []byte(`{"event":"record.created"}`)
	req, err := NewRequest(context.Background(), Request{URL: "https://hooks.example.com/x", Body: body, Secret: "k", DeliveryID: "e1:w1", EventType: "record.created", Attempt: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Type":            "application/json",
		"User-Agent":              UserAgent,
		signature.HeaderID:        "e1:w1",
		signature.HeaderEvent:     "record.created",
		signature.HeaderAttempt:   "3",
		signature.HeaderSecret:    "k",
		signature.HeaderSignature: signature.Sign("k", body),
	}
	for k, v := range want {
		if got := req.Header.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	if req.Method != http.MethodPost {
		t.Errorf("method %s, want POST", req.Method)
	}
	noSecret, _ := NewRequest(context.Background(), Request{URL: "https://hooks.example.com/x", Body: body})
	if noSecret.Header.Get(signature.HeaderSignature) != "" || noSecret.Header.Get(signature.HeaderSecret) != "" {
		t.Error("a target without a secret got signature headers")
	}
	if _, err := NewRequest(context.Background(), Request{URL: "http://hooks.example.com/x"}); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http URL: got %v, want refused", err)
	}
}

// Send against real receivers: every outcome lands in the right class.
func TestSendClassifiesRealFailures(t *testing.T) {
	trusted := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.WriteHeader(200)
			_, _ = io.Copy(w, io.LimitReader(neverEnding('x'), 10<<20))
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/redirect":
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		case "/reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			if tc, ok := conn.(*tls.Conn); ok {
				_ = tc.NetConn().(*net.TCPConn).SetLinger(0)
			}
			conn.Close()
		default:
			w.WriteHeader(201)
			_, _ = io.WriteString(w, "created")
		}
	}))
	defer trusted.Close()
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer untrusted.Close()
	pool := x509.NewCertPool()
	pool.AddCert(trusted.Certificate())
	client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool}})
	untrustedClient := NewHTTPClient(ClientOptions{})

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name      string
		client    *http.Client
		url       string
		timeout   time.Duration
		wantClass delivery.Class
		wantCode  int
		check     func(t *testing.T, a delivery.Attempt)
	}{
		{name: "2xx", client: client, url: trusted.URL, wantCode: 201, check: func(t *testing.T, a delivery.Attempt) {
			if a.ResponseBody != "created" || !a.Succeeded() {
				t.Errorf("got %+v", a)
			}
		}},
		{name: "big body read up to the cap", client: client, url: trusted.URL + "/big", wantCode: 200, check: func(t *testing.T, a delivery.Attempt) {
			if len(a.ResponseBody) != delivery.LoggedBodyLen {
				t.Errorf("logged body %d bytes, want %d", len(a.ResponseBody), delivery.LoggedBodyLen)
			}
		}},
		{name: "redirect not followed", client: client, url: trusted.URL + "/redirect", wantClass: delivery.ClassHTTPStatus, wantCode: 302, check: func(t *testing.T, a delivery.Attempt) {
			if !strings.Contains(a.Error, "not followed") {
				t.Errorf("error %q does not say the redirect was not followed", a.Error)
			}
		}},
		{name: "timeout", client: client, url: trusted.URL + "/slow", timeout: 300 * time.Millisecond, wantClass: delivery.ClassTimeout},
		{name: "connection refused", client: client, url: closed, wantClass: delivery.ClassConnectionRefused},
		{name: "reset", client: client, url: trusted.URL + "/reset", wantClass: delivery.ClassConnectionReset},
		{name: "untrusted certificate", client: untrustedClient, url: untrusted.URL, wantClass: delivery.ClassTLS},
		{name: "plain http refused before any request", client: client, url: strings.Replace(trusted.URL, "https", "http", 1), wantClass: delivery.ClassInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Send(context.Background(), tt.client, Request{URL: tt.url, Body: []byte(`{}`), Attempt: 1, Timeout: tt.timeout})
			if a.Class != tt.wantClass || a.StatusCode != tt.wantCode {
				t.Errorf("got class %q code %d (%s), want %q %d", a.Class, a.StatusCode, a.Error, tt.wantClass, tt.wantCode)
			}
			if a.Number != 1 || a.StartedAt.IsZero() {
				t.Errorf("attempt record incomplete: %+v", a)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestNewRequestStandardWebhooksHeaders(t *testing.T) {
	body := []byte(`{"event":"record.created"}`)
	at := time.Unix(1774967400, 0)
	req, err := NewRequest(context.Background(), Request{URL: "https://h.example/x", Body: body, Secret: "new-secret-1", PreviousSecret: "old-secret-1", DeliveryID: "e1:w1", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("webhook-id") != "e1:w1" || req.Header.Get("webhook-timestamp") != "1774967400" {
		t.Errorf("headers: %v", req.Header)
	}
	if n := len(strings.Fields(req.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures during a rotation, want 2", n)
	}
	for _, s := range []string{"new-secret-1", "old-secret-1"} {
		if err := signature.VerifyStandard(s, req.Header, body, signature.DefaultTolerance, at.Add(time.Second)); err != nil {
			t.Errorf("secret %s: %v", s, err)
		}
	}
	if !signature.Verify("new-secret-1", body, req.Header.Get(signature.HeaderSignature)) || req.Header.Get(signature.HeaderSecret) != "new-secret-1" {
		t.Error("X-Webhook-Signature and X-Webhook-Secret must use the new secret")
	}
}

// An attempt records the headers as the receiver got them (Host and
// Content-Length included), over HTTP/1.1 and HTTP/2, with the secret and
// the signatures redacted: neither reaches the history.
func TestSendRecordsTheRequestHeadersAsSent(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		var got http.Header
		var gotLen int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, gotLen = r.Header.Clone(), r.ContentLength
			w.WriteHeader(http.StatusNoContent)
		}))
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool}})
		body := []byte(`{"event":"record.created","record":{"id":"c-1"}}`)
		const secret = "whsec_do_not_log_me"
		a := Send(context.Background(), client, Request{URL: srv.URL + "/hook", Body: body, Secret: secret, PreviousSecret: "whsec_old_one", DeliveryID: "e1:w1", EventType: "record.created", Attempt: 2})
		srv.Close()
		if a.StatusCode != http.StatusNoContent {
			t.Fatalf("h2=%v: got %+v, want a 204", h2, a)
		}
		rh := a.RequestHeaders
		want := map[string]string{
			"Content-Length":             strconv.Itoa(len(body)),
			"Host":                       strings.TrimPrefix(srv.URL, "https://"),
			"Content-Type":               "application/json",
			"User-Agent":                 UserAgent,
			signature.HeaderID:           "e1:w1",
			signature.HeaderAttempt:      "2",
			signature.HeaderSecret:       delivery.RedactedSecret,
			signature.HeaderSignature:    delivery.RedactedSignature,
			signature.HeaderStdSignature: delivery.RedactedSignature,
			signature.HeaderStdID:        "e1:w1",
			signature.HeaderStdTimestamp: got.Get(signature.HeaderStdTimestamp),
		}
		for k, v := range want {
			if rh[k] != v {
				t.Errorf("h2=%v: recorded %s: got %q, want %q", h2, k, rh[k], v)
			}
		}
		if gotLen != int64(len(body)) {
			t.Errorf("h2=%v: receiver's content length %d, want %d", h2, gotLen, len(body))
		}
		// Every header the receiver got (Go moves Host out of the map) is recorded.
		for k := range got {
			if _, ok := rh[k]; !ok {
				t.Errorf("h2=%v: header %s reached the receiver but is not recorded (recorded %v)", h2, k, rh)
			}
		}
		b, _ := json.Marshal(a)
		if strings.Contains(string(b), "whsec_") || strings.Contains(string(b), signature.Sign(secret, body)) {
			t.Errorf("h2=%v: the attempt record holds the secret or its signature: %s", h2, b)
		}
		if len(b) > 2*delivery.KeptHeaderBytes+delivery.LoggedBodyLen {
			t.Errorf("h2=%v: attempt record is %d bytes, want it bounded", h2, len(b))
		}
	}
}
