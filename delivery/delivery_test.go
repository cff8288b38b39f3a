package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestRetryableStatus(t *testing.T) {
	tests := map[int]bool{
		301: true, 302: true, 400: false, 401: false, 403: false, 404: false, 408: true, 409: false,
		410: false, 422: false, 429: true, 499: false, 500: true, 502: true, 503: true, 504: true,
	}
	for code, want := range tests {
		if got := RetryableStatus(code); got != want {
			t.Errorf("RetryableStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestAttemptOutcome(t *testing.T) {
	tests := []struct {
		name      string
		a         Attempt
		succeeded bool
		retryable bool
		errType   string
	}{
		{"200", Attempt{StatusCode: 200}, true, false, ErrTypeRejected},
		{"204", Attempt{StatusCode: 204}, true, false, ErrTypeRejected},
		{"500", Attempt{StatusCode: 500, Class: ClassHTTPStatus}, false, true, ErrTypeRetryable},
		{"404", Attempt{StatusCode: 404, Class: ClassHTTPStatus}, false, false, ErrTypeRejected},
		{"408", Attempt{StatusCode: 408, Class: ClassHTTPStatus}, false, true, ErrTypeRetryable},
		{"429", Attempt{StatusCode: 429, Class: ClassHTTPStatus}, false, true, ErrTypeRetryable},
		{"302", Attempt{StatusCode: 302, Class: ClassHTTPStatus}, false, true, ErrTypeRetryable},
		{"timeout", Attempt{Class: ClassTimeout}, false, true, ErrTypeRetryable},
		{"refused", Attempt{Class: ClassConnectionRefused}, false, true, ErrTypeRetryable},
		{"tls", Attempt{Class: ClassTLS}, false, true, ErrTypeRetryable},
		{"invalid target", Attempt{Class: ClassInvalidTarget}, false, false, ErrTypeInvalidTarget},
		{"blocked", Attempt{Class: ClassBlocked}, false, false, ErrTypeInvalidTarget},
	}
	for _, tt := range tests {
		if got := tt.a.Succeeded(); got != tt.succeeded {
			t.Errorf("%s: Succeeded = %v, want %v", tt.name, got, tt.succeeded)
		}
		if tt.succeeded {
			continue
		}
		if got := tt.a.Retryable(); got != tt.retryable {
			t.Errorf("%s: Retryable = %v, want %v", tt.name, got, tt.retryable)
		}
		if got := tt.a.ErrorType(); got != tt.errType {
			t.Errorf("%s: ErrorType = %s, want %s", tt.name, got, tt.errType)
		}
	}
}

func TestClassify(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassNone},
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), ClassTimeout},
		{"os deadline", wrap(os.ErrDeadlineExceeded), ClassTimeout},
		{"refused", wrap(os.NewSyscallError("connect", syscall.ECONNREFUSED)), ClassConnectionRefused},
		{"reset", wrap(os.NewSyscallError("read", syscall.ECONNRESET)), ClassConnectionReset},
		{"dns", wrap(&net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}), ClassDNS},
		{"dns timeout", wrap(&net.DNSError{Err: "timeout", Name: "slow", IsTimeout: true}), ClassTimeout},
		{"blocked", wrap(&BlockedError{Addr: "10.0.0.5", Reason: "in a blocked range"}), ClassBlocked},
		{"eof", &url.Error{Op: "Post", URL: "https://x", Err: errors.New("EOF")}, ClassConnectionReset},
		{"other", errors.New("something odd"), ClassNetwork},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: Classify = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestScheduleMatchesSpec(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if len(Schedule) != len(want) || MaxAttempts != 4 {
		t.Fatalf("schedule %v with %d attempts, want %v with 4", Schedule, MaxAttempts, want)
	}
	for i := range want {
		if Schedule[i] != want[i] {
			t.Errorf("retry %d after %s, want %s", i+1, Schedule[i], want[i])
		}
		if i > 0 && float64(Schedule[i]) != float64(Schedule[i-1])*BackoffCoefficient {
			t.Errorf("retry %d does not follow the backoff coefficient", i+1)
		}
	}
}
