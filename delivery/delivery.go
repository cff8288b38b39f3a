// Package delivery holds the pure rules of a webhook delivery: what one
// attempt records, how an outcome is classified, which failures are retried,
// and the retry schedule. It has no Temporal or network dependency.
package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// AttemptTimeout bounds one HTTP attempt: connect, TLS, request and response.
const AttemptTimeout = 15 * time.Second

// Schedule is the wait before each retry: retry 1 after 1 s, retry 2 after
// 2 s, retry 3 after 4 s. With the first attempt that makes MaxAttempts.
var Schedule = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second}

// MaxAttempts is the number of attempts a delivery gets: the first and one
// per entry of Schedule.
var MaxAttempts = len(Schedule) + 1

// BackoffCoefficient is the ratio between consecutive retry waits in Schedule.
const BackoffCoefficient = 2.0

// ResponseBodyCap is how much of a response body is read and kept.
const ResponseBodyCap = 64 << 10

// LoggedBodyLen is how much of the response body an attempt record keeps.
const LoggedBodyLen = 2048

// Class names why an attempt did not succeed.
type Class string

// Attempt outcome classes.
const (
	ClassNone              Class = ""                   // a 2xx response
	ClassHTTPStatus        Class = "http_status"        // a non-2xx response
	ClassTimeout           Class = "timeout"            // no full response within AttemptTimeout
	ClassConnectionRefused Class = "connection_refused" // nothing listens at the address
	ClassConnectionReset   Class = "connection_reset"   // the peer reset or closed the connection
	ClassTLS               Class = "tls"                // handshake or certificate failure
	ClassDNS               Class = "dns"                // the host name does not resolve
	ClassNetwork           Class = "network"            // any other transport error
	ClassInvalidTarget     Class = "invalid_target"     // the URL is not acceptable (not https, ...)
	ClassBlocked           Class = "blocked_destination"
)

// Error types of the failures a DeliverWebhook activity returns. Temporal's
// retry policy lists the non-retryable ones; one place decides.
const (
	// ErrTypeRetryable is an attempt that failed and may succeed later:
	// 408, 429, 3xx, 5xx, timeouts and network errors.
	ErrTypeRetryable = "WebhookAttemptFailed"
	// ErrTypeRejected is a 4xx other than 408 and 429: the receiver
	// refused the request and retrying will not help.
	ErrTypeRejected = "WebhookRejected"
	// ErrTypeInvalidTarget is a target that can never be delivered to.
	ErrTypeInvalidTarget = "WebhookInvalidTarget"
	// ErrTypeSecret is a sealed secret this worker cannot open.
	ErrTypeSecret = "WebhookSecretUnavailable"
	// ErrTypeWorkspaceBusy means no attempt was made: the workspace was at
	// its concurrency limit for longer than the activity waits. The
	// workflow waits on a timer and tries again, spending no attempt.
	ErrTypeWorkspaceBusy = "WebhookWorkspaceBusy"
	// ErrTypeBodyUnavailable means no attempt was made: the activity could
	// not fetch the body from its workflow (the body is not repeated in
	// activity inputs). The workflow waits and tries again, as for
	// ErrTypeWorkspaceBusy.
	ErrTypeBodyUnavailable = "WebhookBodyUnavailable"
)

// NonRetryableErrorTypes are the error types the retry policy never retries.
var NonRetryableErrorTypes = []string{ErrTypeRejected, ErrTypeInvalidTarget, ErrTypeSecret, ErrTypeWorkspaceBusy, ErrTypeBodyUnavailable}

// NotAttempted reports whether a failure of this error type means that no
// attempt was made (so none is spent): the delivery waits and queues again.
func NotAttempted(errType string) bool {
	return errType == ErrTypeWorkspaceBusy || errType == ErrTypeBodyUnavailable
}

// Attempt is the record of one HTTP attempt.
// Every key is always present in JSON (0 or "" when it does not apply), so
// consumers of the CLI and API see one shape.
type Attempt struct {
	Number       int       `json:"attempt"`
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int64     `json:"duration_ms"`
	StatusCode   int       `json:"status_code"`
	Class        Class     `json:"error_class"`
	Error        string    `json:"error"`
	ResponseBody string    `json:"response_body"`
	// ResponseHeaders keeps the response's headers (see KeepHeaders);
	// absent when there was no response, and in attempts recorded before it.
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	// RequestHeaders keeps the headers the attempt sent, as written on the
	// connection (with Host and Content-Length), secret values redacted
	// (see KeepRequestHeaders); absent in attempts recorded before it.
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
}

// Succeeded reports whether the attempt got a 2xx response.
func (a Attempt) Succeeded() bool {
	return a.Class == ClassNone && a.StatusCode >= 200 && a.StatusCode < 300
}

// Retryable reports whether a failed attempt may be retried.
func (a Attempt) Retryable() bool {
	switch a.Class {
	case ClassNone:
		return false
	case ClassHTTPStatus:
		return RetryableStatus(a.StatusCode)
	case ClassInvalidTarget, ClassBlocked:
		return false
	}
	return true
}

// ErrorType is the Temporal error type of a failed attempt.
func (a Attempt) ErrorType() string {
	switch {
	case a.Class == ClassInvalidTarget || a.Class == ClassBlocked:
		return ErrTypeInvalidTarget
	case !a.Retryable():
		return ErrTypeRejected
	}
	return ErrTypeRetryable
}

// Summary is a one-line description of the attempt.
func (a Attempt) Summary() string {
	switch {
	case a.Succeeded():
		return fmt.Sprintf("attempt %d: HTTP %d in %d ms", a.Number, a.StatusCode, a.DurationMS)
	case a.Class == ClassHTTPStatus:
		return fmt.Sprintf("attempt %d: HTTP %d in %d ms", a.Number, a.StatusCode, a.DurationMS)
	}
	return fmt.Sprintf("attempt %d: %s", a.Number, a.Error)
}

// RetryableStatus reports whether a non-2xx status is worth retrying: every
// status but a 4xx other than 408 (Request Timeout) and 429 (Too Many
// Requests).
func RetryableStatus(code int) bool {
	if code >= 400 && code < 500 {
		return code == 408 || code == 429
	}
	return true
}

// Classify names the class of a transport error returned by an HTTP client.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		return ClassBlocked
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return ClassTimeout
		}
		return ClassDNS
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return ClassTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ClassTimeout
	}
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidCert) || errors.As(err, &recordErr) || errors.As(err, &alertErr) {
		return ClassTLS
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ClassConnectionRefused
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ClassConnectionReset
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) && strings.Contains(urlErr.Err.Error(), "tls:") {
		return ClassTLS
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server closed idle connection"), strings.Contains(msg, "EOF"):
		return ClassConnectionReset
	case strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"):
		return ClassTLS
	}
	return ClassNetwork
}

// BlockedError is a destination refused by a network policy.
type BlockedError struct {
	Addr   string
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination %s is %s", e.Addr, e.Reason)
}
