package main

import (
	"strings"
	"testing"
	"time"
)

// A malformed HARI_* number or duration is an error naming the variable,
// not a silent default.
func TestMalformedEnvIsAnError(t *testing.T) {
	for key, val := range map[string]string{"HARI_LEASE": "30", "HARI_WORKSPACE_LIMIT": "fifty"} {
		t.Run(key, func(t *testing.T) {
			t.Setenv(key, val)
			e := &envs{}
			e.duration("HARI_LEASE", time.Minute)
			e.int("HARI_WORKSPACE_LIMIT", 50)
			err := e.err()
			if err == nil || !strings.Contains(err.Error(), key+`="`+val+`"`) {
				t.Errorf("got %v, want an error naming %s=%q", err, key, val)
			}
		})
	}
	for key, val := range map[string]string{"HARI_LEASE": "-5s", "HARI_WORKSPACE_LIMIT": "0"} {
		t.Setenv(key, val)
	}
	e := &envs{}
	e.duration("HARI_LEASE", time.Minute)
	e.int("HARI_WORKSPACE_LIMIT", 50)
	if err := e.err(); err == nil || !strings.Contains(err.Error(), "HARI_LEASE") || !strings.Contains(err.Error(), "HARI_WORKSPACE_LIMIT") {
		t.Errorf("got %v, want both non-positive values reported", err)
	}
	t.Setenv("HARI_RECOVER_EVERY", "0")
	if d := (&envs{}).durationOrOff("HARI_RECOVER_EVERY", time.Minute); d != 0 {
		t.Errorf("HARI_RECOVER_EVERY=0: got %s, want 0 (off)", d)
	}
	t.Setenv("HARI_RECOVER_EVERY", "soon")
	e = &envs{}
	e.durationOrOff("HARI_RECOVER_EVERY", time.Minute)
	if e.err() == nil {
		t.Error("HARI_RECOVER_EVERY=soon was accepted")
	}
	t.Setenv("HARI_LEASE", "")
	t.Setenv("HARI_WORKSPACE_LIMIT", "")
	e = &envs{}
	if d, n := e.duration("HARI_LEASE", time.Minute), e.int("HARI_WORKSPACE_LIMIT", 50); d != time.Minute || n != 50 || e.err() != nil {
		t.Errorf("unset: got %s, %d, %v; want the defaults without error", d, n, e.err())
	}
}

// The lease of a slot must outlive the 15 s attempt that holds it, by a
// margin (the grant's round trip, a loaded worker's scheduling delay).
func TestLeaseMustExceedTheAttemptTimeout(t *testing.T) {
	for lease, ok := range map[time.Duration]bool{10 * time.Second: false, 15 * time.Second: false, 15500 * time.Millisecond: false, 16 * time.Second: true, time.Minute: true} {
		err := checkLimits(lease, 15*time.Second, 50)
		if (err == nil) != ok {
			t.Errorf("lease %s: got %v, want accepted=%v", lease, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "at least the 15s attempt timeout plus 1s") {
			t.Errorf("lease %s: message %q does not say why", lease, err)
		}
	}
	if err := checkLimits(time.Minute, 15*time.Second, 0); err == nil {
		t.Error("a workspace limit of 0 was accepted")
	}
	// A test's shortened attempt timeout allows a shorter lease.
	if err := checkLimits(3*time.Second, 2*time.Second, 3); err != nil {
		t.Errorf("lease 3s over a 2s attempt timeout: got %v, want accepted", err)
	}
	if err := checkLimits(2400*time.Millisecond, 2*time.Second, 3); err == nil {
		t.Error("lease 2.4s over a 2s attempt timeout (no margin): got accepted, want refused")
	}
	if err := checkLimits(time.Minute, 20*time.Second, 50); err == nil || !strings.Contains(err.Error(), "at most the spec's 15s") {
		t.Errorf("attempt timeout 20s: got %v, want refused", err)
	}
}
