package publisher

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/hari-crm/webhooks/workflows"
)

// maxStreakLookback bounds how far back a streak with no delivery before
// it is searched for its first failure (far beyond any retention).
const maxStreakLookback = 10 * 365 * 24 * time.Hour

// longStreak completes a failure streak longer than the scan of
// MaxHealthScan deliveries: it counts the failures started after
// lastOK (the start of the newest delivered delivery; zero when there is
// none) up to now, and finds the first of them by bisecting on the start
// time with count, to within a second. count(after, upTo) is the number
// of failures started in (after, upTo] (no lower bound when after is
// zero). It returns the count and, when it is not zero, the first
// failure's start time (rounded up to the second).
func longStreak(lastOK, now time.Time, count func(after, upTo time.Time) (int, error)) (int, *time.Time, error) {
	n, err := count(lastOK, now)
	if err != nil || n == 0 {
		return 0, nil, err
	}
	lo, hi := lastOK, now // no failure in (lastOK, lo]; at least one in (lastOK, hi]
	if lo.IsZero() {
		lo = now.Add(-maxStreakLookback)
	}
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		k, err := count(lastOK, mid)
		if err != nil {
			return 0, nil, err
		}
		if k > 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return n, &hi, nil
}

// streakBeyondScan sets h's ConsecutiveFailures and FailingSince from
// visibility counts when the streak is longer than the scan: the failures
// are the webhook's failed (and partly failed) events started after the
// newest delivered one (or from, the webhook's re-enable, if later). base
// is DeliveriesQuery's text for webhookID.
func (p *Publisher) streakBeyondScan(ctx context.Context, base, webhookID string, from time.Time, h *Health) error {
	// The newest delivered event whose delivery to this webhook was not
	// skipped (an event delivered elsewhere, skipped here, is delivered
	// too), within MaxHealthScan of them.
	var lastOK time.Time
	var token []byte
	read := 0
find:
	for read < MaxHealthScan {
		resp, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:    fmt.Sprintf("%s AND %s = '%s'", base, workflows.SearchStatus.GetName(), workflows.StatusDelivered),
			PageSize: 100, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("find the last delivered delivery: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			read++
			if !skippedFor(ex.GetSearchAttributes(), webhookID) {
				lastOK = ex.GetStartTime().AsTime()
				break find
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if from.After(lastOK) {
		lastOK = from // re-enabled since: older failures do not count
	}
	count := func(after, upTo time.Time) (int, error) {
		q := fmt.Sprintf("%s AND %s IN ('%s', '%s') AND StartTime <= '%s'", base, workflows.SearchStatus.GetName(),
			workflows.StatusFailed, workflows.StatusPartial, upTo.UTC().Format(time.RFC3339Nano))
		if !after.IsZero() {
			q += fmt.Sprintf(" AND StartTime > '%s'", after.UTC().Format(time.RFC3339Nano))
		}
		resp, err := p.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err != nil {
			return 0, fmt.Errorf("count failed deliveries: %w", err)
		}
		return int(resp.GetCount()), nil
	}
	n, since, err := longStreak(lastOK, time.Now(), count)
	if err != nil {
		return err
	}
	if n > h.ConsecutiveFailures {
		h.ConsecutiveFailures, h.FailingSince = n, since
	}
	return nil
}
