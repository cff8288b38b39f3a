package publisher

import (
	"testing"
	"time"
)

// A busy endpoint dead for 4 days (one failure a minute, 5,760 failures,
// far more than the MaxHealthScan read one by one) has the whole streak
// counted and failing since its first failure, so the 50-in-3-days rule
// disables it; before, only the newest 1,000 (under a day) were seen and
// it never was.
func TestLongStreakCountsBeyondTheScan(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	lastOK := now.Add(-96*time.Hour - 30*time.Second)
	var failures []time.Time
	for at := now.Add(-96 * time.Hour); !at.After(now); at = at.Add(time.Minute) {
		failures = append(failures, at)
	}
	// Failures before the last delivered one are not part of the streak.
	failures = append(failures, lastOK.Add(-time.Hour), lastOK.Add(-time.Minute))
	count := func(after, upTo time.Time) (int, error) {
		n := 0
		for _, f := range failures {
			if (after.IsZero() || f.After(after)) && !f.After(upTo) {
				n++
			}
		}
		return n, nil
	}
	n, since, err := longStreak(lastOK, now, count)
	if err != nil {
		t.Fatal(err)
	}
	if want := 96*60 + 1; n != want {
		t.Errorf("consecutive failures: got %d, want %d", n, want)
	}
	first := now.Add(-96 * time.Hour)
	if since == nil || since.Before(first) || since.Sub(first) > time.Second {
		t.Fatalf("failing since: got %v, want %v (to within a second)", since, first)
	}
	h := Health{ConsecutiveFailures: n, FailingSince: since, More: true}
	if !DefaultDisableRule.Met(h, now) {
		t.Errorf("rule 50 in 3 days: got not met for %d failures since %v, want met", n, since)
	}

	// Never delivered at all: the first failure ever.
	n, since, err = longStreak(time.Time{}, now, count)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(failures); n != want {
		t.Errorf("never delivered: got %d failures, want %d", n, want)
	}
	if first := lastOK.Add(-time.Hour); since == nil || since.Before(first) || since.Sub(first) > time.Second {
		t.Errorf("never delivered: failing since got %v, want %v", since, first)
	}

	// Nothing failed after the last delivery: no streak.
	n, since, err = longStreak(now, now, count)
	if err != nil || n != 0 || since != nil {
		t.Errorf("no failure after the last delivery: got %d, %v, %v, want 0, nil, nil", n, since, err)
	}
}

// The rule needs both the count and the span.
func TestDisableRuleMet(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	rule := DisableRule{After: 50, Span: 72 * time.Hour}
	for _, c := range []struct {
		h    Health
		want bool
	}{
		{Health{ConsecutiveFailures: 50, FailingSince: at(72 * time.Hour)}, true},
		{Health{ConsecutiveFailures: 49, FailingSince: at(100 * time.Hour)}, false},
		{Health{ConsecutiveFailures: 5000, FailingSince: at(71 * time.Hour)}, false},
		{Health{ConsecutiveFailures: 5000}, false},
	} {
		if got := rule.Met(c.h, now); got != c.want {
			t.Errorf("%d failures since %v: got %v, want %v", c.h.ConsecutiveFailures, c.h.FailingSince, got, c.want)
		}
	}
}
