package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hari-crm/webhooks/delivery"
)

// envs reads the worker's HARI_* numbers and durations. A malformed or
// non-positive value is an error at start, collected for every variable at
// once, never a silent fall-back to the default.
type envs struct {
	errs []error
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (e *envs) duration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a positive duration (write it like 30s or 2m)", key, v))
		return def
	}
	return d
}

// durationOrOff is duration where 0 turns the feature off.
func (e *envs) durationOrOff(key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v == "0" || v == "0s" {
		return 0
	}
	return e.duration(key, def)
}

func (e *envs) int(key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a positive whole number", key, v))
		return def
	}
	return n
}

// bool reads a yes/no variable (1, true, 0, false, as strconv.ParseBool).
func (e *envs) bool(key string, def bool) bool {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not 1 or 0 (true or false)", key, v))
		return def
	}
	return b
}

func (e *envs) err() error { return errors.Join(e.errs...) }

// leaseMargin is what a lease must add to the attempt timeout: the slot is
// granted on Redis's clock, and the attempt's deadline starts after the
// answer comes back and the request is signed (a Redis round trip and a
// scheduling delay on a loaded worker). The body is fetched before the
// slot is taken, so the lease does not have to cover the body query.
const leaseMargin = time.Second

// checkLimits refuses settings that break the spec or the delivery limit:
// an attempt timeout over the spec's 15 s, a slot's lease that does not
// outlive the attempt that holds it by leaseMargin (a slow attempt's slot
// would expire and a 51st attempt start), a limit that is not positive.
func checkLimits(lease, attemptTimeout time.Duration, limit int) error {
	if attemptTimeout <= 0 || attemptTimeout > delivery.AttemptTimeout {
		return fmt.Errorf("attempt timeout (HARI_ATTEMPT_TIMEOUT or -attempt-timeout) is %s: it must be positive and at most the spec's %s", attemptTimeout, delivery.AttemptTimeout)
	}
	if lease < attemptTimeout+leaseMargin {
		return fmt.Errorf("lease (HARI_LEASE or -lease) is %s: it must be at least the %s attempt timeout plus %s, or a slot would expire while its attempt still runs", lease, attemptTimeout, leaseMargin)
	}
	if limit <= 0 {
		return fmt.Errorf("workspace limit (HARI_WORKSPACE_LIMIT or -workspace-limit) is %d: it must be positive", limit)
	}
	return nil
}
