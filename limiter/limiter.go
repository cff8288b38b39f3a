// Package limiter bounds how many webhook attempts of one workspace are in
// flight at once, and serves the callers waiting for a slot oldest first.
// Local is the in-process limiter of the embedded default (one worker
// process); Redis is shared by every worker of a deployment.
package limiter

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultLimit is the spec's maximum of concurrent deliveries per workspace.
const DefaultLimit = 50

// Ticket is a caller waiting for a slot. Since is when its delivery began
// to wait; it stays the same over every round of waiting (and every
// worker), so a slot goes to the oldest waiting delivery, not to the one
// that asked last. ID names the delivery and breaks ties.
type Ticket struct {
	ID    string
	Since time.Time
}

// Before orders tickets: older first, then by ID.
func (t Ticket) Before(u Ticket) bool {
	if c := t.Since.Compare(u.Since); c != 0 {
		return c < 0
	}
	return t.ID < u.ID
}

// Local is a per-workspace counting semaphore inside one process. A freed
// slot is handed to the oldest waiting ticket, without polling; a caller
// that does not wait (TryAcquire) never takes a slot while anyone waits.
type Local struct {
	limit int

	mu      sync.Mutex
	used    map[string]int
	waiters map[string][]*localWaiter // sorted, oldest first
}

type localWaiter struct {
	t  Ticket
	ch chan struct{}
}

// NewLocal returns a limiter allowing limit attempts per workspace.
func NewLocal(limit int) *Local {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Local{limit: limit, used: map[string]int{}, waiters: map[string][]*localWaiter{}}
}

// InFlight returns how many slots of workspace are held.
func (l *Local) InFlight(workspace string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used[workspace]
}

// Waiting returns how many callers wait for a slot of workspace.
func (l *Local) Waiting(workspace string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters[workspace])
}

// TryAcquire takes a slot if one is free at once and nobody waits.
func (l *Local) TryAcquire(_ context.Context, workspace string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used[workspace] >= l.limit || len(l.waiters[workspace]) > 0 {
		return nil, false, nil
	}
	l.used[workspace]++
	return l.releaser(workspace), true, nil
}

// Acquire waits for a slot until ctx ends; older tickets are served first.
func (l *Local) Acquire(ctx context.Context, workspace string, t Ticket) (func(), error) {
	l.mu.Lock()
	if l.used[workspace] < l.limit && len(l.waiters[workspace]) == 0 {
		l.used[workspace]++
		l.mu.Unlock()
		return l.releaser(workspace), nil
	}
	me := &localWaiter{t: t, ch: make(chan struct{})}
	q := l.waiters[workspace]
	// After every ticket that is not younger than ours.
	i := slices.IndexFunc(q, func(w *localWaiter) bool { return t.Before(w.t) })
	if i < 0 {
		i = len(q)
	}
	l.waiters[workspace] = slices.Insert(q, i, me)
	l.mu.Unlock()

	select {
	case <-me.ch: // the releaser handed its slot to us
		return l.releaser(workspace), nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		q := l.waiters[workspace]
		if i := slices.Index(q, me); i >= 0 {
			if len(q) == 1 {
				delete(l.waiters, workspace)
			} else {
				l.waiters[workspace] = slices.Delete(q, i, i+1)
			}
			return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", workspace, ctx.Err())
		}
		// A slot was handed over while we gave up: pass it on.
		l.releaseLocked(workspace)
		return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", workspace, ctx.Err())
	}
}

func (l *Local) releaser(workspace string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.releaseLocked(workspace)
		})
	}
}

func (l *Local) releaseLocked(workspace string) {
	if q := l.waiters[workspace]; len(q) > 0 {
		w := q[0]
		if len(q) == 1 {
			delete(l.waiters, workspace)
		} else {
			l.waiters[workspace] = q[1:]
		}
		close(w.ch) // the slot passes to the oldest waiter; used stays the same
		return
	}
	l.used[workspace]--
	if l.used[workspace] <= 0 {
		delete(l.used, workspace)
	}
}
