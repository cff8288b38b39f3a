package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

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

// A run that listed the failed events moves the next run's since to its
// own start (less the margin) even when some webhook's health could not be
// read, and hands that webhook to the next run; a run whose listing failed
// leaves since and what is to be read again as they were.
func TestSweepAdvancesOnceListedAndRetriesOnlyTheUnread(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	s := sweep{since: t0}
	unreadA := publisher.Unread{Webhooks: []publisher.WebhookRef{{Workspace: "acme", ID: "wh_a"}}}
	var gotSince []time.Time
	var gotAgain []publisher.Unread
	results := []struct {
		run publisher.DisableRun
		err error
	}{
		{publisher.DisableRun{Unread: unreadA, Err: errors.New("webhook acme/wh_a: visibility timeout")}, nil},
		{publisher.DisableRun{}, errors.New("list failed events: unavailable")},
		{publisher.DisableRun{}, nil},
	}
	run := func(_ context.Context, since time.Time, again publisher.Unread) (publisher.DisableRun, error) {
		gotSince = append(gotSince, since)
		gotAgain = append(gotAgain, again)
		r := results[len(gotSince)-1]
		return r.run, r.err
	}
	for i := range results {
		s.step(context.Background(), run, t0.Add(time.Duration(i+1)*time.Minute), zerolog.Nop())
	}
	wantSince := []time.Time{t0, t0.Add(time.Minute - disableMargin), t0.Add(time.Minute - disableMargin)}
	if !slices.Equal(gotSince, wantSince) {
		t.Errorf("since of each run: got %v, want %v", gotSince, wantSince)
	}
	if len(gotAgain[0].Webhooks) != 0 || !slices.Equal(gotAgain[1].Webhooks, unreadA.Webhooks) || !slices.Equal(gotAgain[2].Webhooks, unreadA.Webhooks) {
		t.Errorf("webhooks read again by each run: got %+v, want none, then wh_a twice (the listing failed between)", gotAgain)
	}
	if want := t0.Add(3*time.Minute - disableMargin); !s.since.Equal(want) || len(s.unread.Webhooks) != 0 {
		t.Errorf("after a clean run: got since %v, unread %+v, want %v and nothing", s.since, s.unread, want)
	}
}
