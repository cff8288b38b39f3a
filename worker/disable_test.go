package main

import (
	"testing"
	"time"

	"github.com/hari-crm/webhooks/publisher"
)

// A span at or above the retention can never be met: the worker says so.
func TestSpanBeyondRetention(t *testing.T) {
	rule := publisher.DisableRule{After: 50, Span: 72 * time.Hour}
	for _, c := range []struct {
		retention time.Duration
		warn      bool
	}{
		{24 * time.Hour, true},
		{72 * time.Hour, true},
		{30 * 24 * time.Hour, false},
		{0, false},
	} {
		if got := spanBeyondRetention(rule, c.retention) != ""; got != c.warn {
			t.Errorf("span 72h, retention %s: got warning %v, want %v", c.retention, got, c.warn)
		}
	}
}
