package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hari-crm/webhooks/limiter"
)

// errNoSlot means the bounded wait for a workspace slot ended without one.
var errNoSlot = errors.New("no delivery slot")

// errPlaceKept wraps errNoSlot when the round ran out and the limiter keeps
// the delivery's place for its ticket's Hold.
var errPlaceKept = limiter.ErrPlaceKept

// errOvertaken ends a wait whose place went to an older delivery.
var errOvertaken = errors.New("a delivery that began waiting earlier took its place in this worker")

// waitQueue bounds how many callers of one workspace wait for a slot in
// this process, keeping the oldest: when it is full, a caller whose
// delivery began waiting earlier than the youngest waiter's takes that
// waiter's place (the youngest gives up without an attempt and comes back
// later). So the deliveries that wait here are the oldest that asked, and
// an old delivery is never kept out by younger ones.
type waitQueue struct {
	mu sync.Mutex
	ws map[string][]*queued // oldest first
}

type queued struct {
	t     limiter.Ticket
	evict context.CancelCauseFunc
}

// join queues t if there is room or it is older than the youngest waiter;
// leave must be called when the wait ends.
func (q *waitQueue) join(ws string, t limiter.Ticket, max int, evict context.CancelCauseFunc) (leave func(), ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ws == nil {
		q.ws = map[string][]*queued{}
	}
	line := q.ws[ws]
	if len(line) >= max {
		youngest := line[len(line)-1]
		if !t.Before(youngest.t) {
			return nil, false
		}
		youngest.evict(errOvertaken)
		line = line[:len(line)-1]
	}
	me := &queued{t: t, evict: evict}
	i := slices.IndexFunc(line, func(o *queued) bool { return t.Before(o.t) })
	if i < 0 {
		i = len(line)
	}
	q.ws[ws] = slices.Insert(line, i, me)
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		line := q.ws[ws]
		if i := slices.Index(line, me); i >= 0 {
			line = slices.Delete(line, i, i+1)
		}
		if len(line) == 0 {
			delete(q.ws, ws) // no map entry outlives its waiters
		} else {
			q.ws[ws] = line
		}
	}, true
}

// boundedWait takes a workspace slot for ticket t, waiting at most wait
// and only as one of the maxWaiters oldest waiters of the workspace in
// this process (queue). It reports errNoSlot (wrapped) when it gives up,
// and records how the wait ended under outcomeOnGiveUp.
func (a *Activities) boundedWait(ctx context.Context, ws string, t limiter.Ticket, queue *waitQueue, maxWaiters int, wait time.Duration, outcomeOnGiveUp string) (func(), error) {
	if rel, ok, err := a.Limiter.TryAcquire(ctx, ws); err != nil || ok {
		return rel, err
	}
	cctx, evict := context.WithCancelCause(ctx)
	defer evict(nil)
	leave, ok := queue.join(ws, t, maxWaiters, evict)
	if !ok {
		a.recordWait(outcomeOnGiveUp, 0)
		return nil, fmt.Errorf("%w: workspace %s is at its delivery limit and %d deliveries that began waiting earlier already wait in this worker", errNoSlot, ws, maxWaiters)
	}
	defer leave()
	wctx, cancel := context.WithTimeout(cctx, wait)
	defer cancel()
	start := time.Now()
	rel, err := a.Limiter.Acquire(wctx, ws, t)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.recordWait(outcomeOnGiveUp, time.Since(start))
		if errors.Is(context.Cause(cctx), errOvertaken) {
			return nil, fmt.Errorf("%w: workspace %s is at its delivery limit and %v", errNoSlot, ws, errOvertaken)
		}
		if errors.Is(err, limiter.ErrPlaceKept) {
			return nil, fmt.Errorf("%w: workspace %s stayed at its delivery limit for %s; %w", errNoSlot, ws, wait, errPlaceKept)
		}
		return nil, fmt.Errorf("%w: workspace %s stayed at its delivery limit for %s: %v", errNoSlot, ws, wait, err)
	}
	a.recordWait("acquired", time.Since(start))
	return rel, nil
}

func (a *Activities) recordWait(outcome string, d time.Duration) {
	if a.Metrics != nil {
		a.Metrics.Wait(outcome, d)
	}
}
