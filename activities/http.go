package activities

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/signature"
)

// UserAgent names the product on every request.
const UserAgent = "HARi-Webhooks/1.0 (+https://hari.example/docs/webhooks)"

// ClientOptions tune the HTTP client that makes delivery attempts.
type ClientOptions struct {
	// Control, when set, runs on every address the dialer connects to
	// (after DNS), and can refuse it: the SSRF guard's hook.
	Control func(network, address string, c syscall.RawConn) error
	// Resolver replaces the system's DNS (tests map names to addresses);
	// the Control hook still checks every resolved address.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
	// TLS overrides the TLS configuration (tests trust their own CA through
	// RootCAs). Nil uses the system roots, which honour SSL_CERT_FILE.
	TLS *tls.Config
	// MaxConnsPerHost, when positive, bounds the connections (open, idle
	// or being dialled) to one receiver host from this client; attempts
	// beyond it wait for a connection within their own attempt timeout.
	// 0 (the worker's setting) means no bound: the client is shared by
	// every workspace, and a bound on a shared host (hooks.zapier.com) is
	// one that a workspace whose receiver there hangs would fill, making
	// other workspaces' attempts to the same host time out. What bounds
	// the connections instead is per workspace: at most 50 attempts in
	// flight (the limiter), each on its own connection or HTTP/2 stream.
	MaxConnsPerHost int
}

// NewHTTPClient returns the client every delivery attempt uses: explicit
// timeouts, connection reuse (HTTP/2 where the receiver offers it), no
// process-wide bound per host unless MaxConnsPerHost asks for one, TLS 1.2
// or newer, bounded response headers, no proxy from the
// environment and no redirects followed.
//
// Connect, TLS handshake, request and response together are bounded by the
// attempt's timeout (Send's context), not by separate, shorter transport
// timeouts: the spec promises 15 s per attempt, and Go's default TLS
// handshake timeout of 10 s would cut a slow handshake earlier.
func NewHTTPClient(opts ClientOptions) *http.Client {
	dialer := &net.Dialer{Timeout: delivery.AttemptTimeout, KeepAlive: 30 * time.Second, Control: opts.Control}
	tlsConf := opts.TLS
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	} else {
		tlsConf = tlsConf.Clone()
	}
	if tlsConf.MinVersion < tls.VersionTLS12 {
		tlsConf.MinVersion = tls.VersionTLS12
	}
	perHost := max(opts.MaxConnsPerHost, 0)
	dial := dialer.DialContext
	if opts.Resolver != nil {
		dial = resolvingDial(dialer, opts.Resolver)
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    delivery.AttemptTimeout, // a backstop: the attempt's context ends first
		ResponseHeaderTimeout:  delivery.AttemptTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           1024,
		MaxConnsPerHost:        perHost,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   delivery.AttemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is a failed attempt, never followed
		},
	}
}

// resolvingDial resolves host names with r and dials the addresses in turn.
func resolvingDial(d *net.Dialer, r interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return d.DialContext(ctx, network, addr)
		}
		ips, err := r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, &net.DNSError{Err: err.Error(), Name: host, IsNotFound: true}
		}
		var firstErr error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if firstErr == nil {
			firstErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, firstErr
	}
}

// Request is everything one attempt sends.
type Request struct {
	URL    string
	Body   []byte
	Secret string
	// PreviousSecret, during a rotation's grace period, adds a second
	// webhook-signature.
	PreviousSecret string
	// NoSecretHeader leaves out X-Webhook-Secret: the receiver gets only
	// the signatures, which reveal nothing of the secret.
	NoSecretHeader bool
	// At is the attempt's time for webhook-timestamp; zero means now.
	At         time.Time
	DeliveryID string
	EventType  string
	Attempt    int
	// Timeout bounds the attempt; zero means delivery.AttemptTimeout.
	Timeout time.Duration
	// KeepBody is how much of the response body the attempt record keeps;
	// zero means delivery.LoggedBodyLen.
	KeepBody int
}

// NewRequest builds the HTTP request of one attempt: a POST of the body
// with the product's headers and, when there is a secret, the spec's two
// signature headers. It does no I/O.
func NewRequest(ctx context.Context, r Request) (*http.Request, error) {
	// The host a browser reads in the URL is the one dialled (and checked
	// by the guard): 0x7f.1 is dialled as 127.0.0.1, and refused.
	target, err := endpoint.DialURL(r.URL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", endpoint.ErrInvalid, err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(signature.HeaderID, r.DeliveryID)
	h.Set(signature.HeaderEvent, r.EventType)
	h.Set(signature.HeaderAttempt, strconv.Itoa(r.Attempt))
	if r.Secret != "" {
		if !r.NoSecretHeader {
			h.Set(signature.HeaderSecret, r.Secret)
		}
		h.Set(signature.HeaderSignature, signature.Sign(r.Secret, r.Body))
		at := r.At
		if at.IsZero() {
			at = time.Now()
		}
		secrets := []string{r.Secret}
		if r.PreviousSecret != "" && r.PreviousSecret != r.Secret {
			secrets = append(secrets, r.PreviousSecret)
		}
		signature.StandardHeaders(h, r.DeliveryID, at, r.Body, secrets...)
	}
	return req, nil
}

// Send makes one attempt with client and records its outcome. It never
// returns an error: every failure is part of the Attempt.
func Send(ctx context.Context, client *http.Client, r Request) delivery.Attempt {
	start := time.Now()
	a := delivery.Attempt{Number: r.Attempt, StartedAt: start.UTC()}
	done := func() delivery.Attempt {
		a.DurationMS = time.Since(start).Milliseconds()
		return a
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = delivery.AttemptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := NewRequest(ctx, r)
	if err != nil {
		a.Class = delivery.ClassInvalidTarget
		a.Error = err.Error()
		return done()
	}
	sent := &sentHeaders{h: http.Header{}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), sent.trace()))
	resp, err := client.Do(req)
	a.RequestHeaders = sent.keep(req)
	if err != nil {
		a.Class = delivery.Classify(err)
		// The URL can hold a token (hooks.slack.com/services/...): keep
		// only the transport error, never the URL, in logs and history.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		a.Error = describe(a.Class, timeout, err)
		return done()
	}
	defer resp.Body.Close()
	a.StatusCode = resp.StatusCode
	a.ResponseHeaders = delivery.KeepHeaders(resp.Header)
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, delivery.ResponseBodyCap))
	keep := r.KeepBody
	if keep <= 0 {
		keep = delivery.LoggedBodyLen
	}
	a.ResponseBody = truncateUTF8(body, keep)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Class = delivery.ClassHTTPStatus
		a.Error = fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			a.Error += " (redirect to " + truncateUTF8([]byte(loc), 200) + " not followed)"
		}
	}
	if readErr != nil || ctx.Err() != nil {
		// The status line decides the outcome; a body that broke off (a
		// trickling receiver cut at the deadline, a reset) is only noted.
		class := delivery.ClassTimeout
		if readErr != nil && ctx.Err() == nil {
			class = delivery.Classify(readErr)
		}
		a.ResponseBody += "\n[response body cut: " + string(class) + "]"
	}

	return done()
}

// sentHeaders collects the header fields the transport writes (HTTP/1.1
// and HTTP/2 alike), from the last connection it tried.
type sentHeaders struct {
	mu sync.Mutex
	h  http.Header
}

func (s *sentHeaders) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { // a retry on another connection writes them again
			s.mu.Lock()
			s.h = http.Header{}
			s.mu.Unlock()
		},
		WroteHeaderField: func(name string, values []string) {
			switch {
			case name == ":authority":
				name = "Host"
			case strings.HasPrefix(name, ":"):
				return // HTTP/2's method, path and scheme: the log shows POST and the URL
			}
			s.mu.Lock()
			s.h[http.CanonicalHeaderKey(name)] = append(s.h[http.CanonicalHeaderKey(name)], values...)
			s.mu.Unlock()
		},
	}
}

// keep returns the headers to record: those written, or, when none were
// (no connection), those the request was built with and its length.
func (s *sentHeaders) keep(req *http.Request) map[string]string {
	s.mu.Lock()
	h := s.h.Clone()
	s.mu.Unlock()
	if len(h) == 0 {
		h = req.Header.Clone()
		h.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	}
	return delivery.KeepRequestHeaders(h, []string{signature.HeaderSecret}, []string{signature.HeaderSignature, signature.HeaderStdSignature})
}

func describe(class delivery.Class, timeout time.Duration, err error) string {
	if class == delivery.ClassTimeout {
		return fmt.Sprintf("%s: no complete response within %s (%v)", class, timeout, err)
	}
	return string(class) + ": " + err.Error()
}

// truncateUTF8 returns at most n bytes of b as a string, cut at a rune
// boundary.
func truncateUTF8(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	b = b[:n]
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return string(b)
}
