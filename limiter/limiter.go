// Package limiter bounds how many webhook attempts of one workspace are in
// flight at once, and serves the callers waiting for a slot oldest first.
// Local is the in-process limiter of the embedded default (one worker
// process); Redis is shared by every worker of a deployment.
package limiter

import (
	"context"
	"errors"
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
//
// Hold is how long the ticket keeps its place after a wait that ran out
// (its context's deadline passed): the delivery comes back within it for
// its next round, and no younger caller takes a slot it is owed in the
// meantime. Zero: the ticket leaves with its waiter. A wait ended by
// cancellation (an older delivery took its place, the worker stopping)
// never holds.
type Ticket struct {
	ID    string
	Since time.Time
	Hold  time.Duration
}

// Before orders tickets: older first, then by ID.
func (t Ticket) Before(u Ticket) bool {
	if c := t.Since.Compare(u.Since); c != 0 {
		return c < 0
	}
	return t.ID < u.ID
}

// holds reports whether a wait that ended with ctx keeps t's place.
func (t Ticket) holds(ctx context.Context) bool {
	return t.Hold > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// ErrPlaceKept is wrapped by the error of an Acquire whose wait ran out
// when the limiter keeps the ticket's place for its Hold (and only then).
var ErrPlaceKept = errors.New("its place in the queue is kept for its return")

// Local is a per-workspace counting semaphore inside one process. Its
// queue holds the waiting tickets, oldest first, and the tickets held for
// deliveries between two rounds of waiting. A ticket gets a slot when
// fewer tickets are ahead of it than slots are free; a held ticket's slot
// stays free until it comes back or its hold ends. A caller that does not
// wait (TryAcquire) never takes a slot while any ticket is queued.
type Local struct {
	limit int

	mu    sync.Mutex
	used  map[string]int
	queue map[string][]*localWaiter // sorted, oldest first
}

// localWaiter is a queued ticket: waiting (ch set) or held until until.
type localWaiter struct {
	t       Ticket
	ch      chan struct{} // closed when granted; nil while held
	granted bool
	until   time.Time
}

// NewLocal returns a limiter allowing limit attempts per workspace.
func NewLocal(limit int) *Local {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Local{limit: limit, used: map[string]int{}, queue: map[string][]*localWaiter{}}
}

// InFlight returns how many slots of workspace are held.
func (l *Local) InFlight(workspace string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used[workspace]
}

// Waiting returns how many callers wait for a slot of workspace (held
// tickets not counted).
func (l *Local) Waiting(workspace string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.queue[workspace] {
		if w.ch != nil {
			n++
		}
	}
	return n
}

// TryAcquire takes a slot if one is free beyond those the queued tickets
// (waiting or held) are owed.
func (l *Local) TryAcquire(_ context.Context, workspace string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(workspace)
	if l.limit-l.used[workspace] <= len(l.queue[workspace]) {
		return nil, false, nil
	}
	l.used[workspace]++
	return l.releaser(workspace), true, nil
}

// Acquire waits for a slot until ctx ends; older tickets are served first.
// A ticket held from an earlier round takes its place back.
func (l *Local) Acquire(ctx context.Context, workspace string, t Ticket) (func(), error) {
	l.mu.Lock()
	q := slices.DeleteFunc(l.queue[workspace], func(w *localWaiter) bool { return w.ch == nil && w.t.ID == t.ID })
	me := &localWaiter{t: t, ch: make(chan struct{})}
	// After every ticket that is not younger than ours.
	i := slices.IndexFunc(q, func(w *localWaiter) bool { return t.Before(w.t) })
	if i < 0 {
		i = len(q)
	}
	l.queue[workspace] = slices.Insert(q, i, me)
	l.grantLocked(workspace)
	l.mu.Unlock()

	select {
	case <-me.ch:
		return l.releaser(workspace), nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if me.granted { // granted while we gave up: pass the slot on
		l.used[workspace]--
		l.grantLocked(workspace)
		l.tidyLocked(workspace)
		return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", workspace, ctx.Err())
	}
	if t.holds(ctx) {
		me.ch, me.until = nil, time.Now().Add(t.Hold)
		time.AfterFunc(t.Hold, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.expireLocked(workspace)
			l.grantLocked(workspace)
			l.tidyLocked(workspace)
		})
		return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w (%w)", workspace, ctx.Err(), ErrPlaceKept)
	} else {
		l.queue[workspace] = slices.DeleteFunc(l.queue[workspace], func(w *localWaiter) bool { return w == me })
		l.grantLocked(workspace) // a younger waiter may now be owed a slot
		l.tidyLocked(workspace)
	}
	return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", workspace, ctx.Err())
}

// grantLocked gives free slots to the waiting tickets that are owed one:
// those with fewer tickets (waiting or held) ahead than slots are free.
func (l *Local) grantLocked(workspace string) {
	l.expireLocked(workspace)
	for {
		q := l.queue[workspace]
		free := l.limit - l.used[workspace]
		i := slices.IndexFunc(q, func(w *localWaiter) bool { return w.ch != nil })
		if i < 0 || i >= free {
			return
		}
		w := q[i]
		l.queue[workspace] = slices.Delete(q, i, i+1)
		l.used[workspace]++
		w.granted = true
		close(w.ch)
	}
}

// expireLocked drops the held tickets whose hold has ended.
func (l *Local) expireLocked(workspace string) {
	now := time.Now()
	l.queue[workspace] = slices.DeleteFunc(l.queue[workspace], func(w *localWaiter) bool { return w.ch == nil && !now.Before(w.until) })
}

// tidyLocked deletes a workspace's empty entries: no map entry outlives
// its slots and tickets.
func (l *Local) tidyLocked(workspace string) {
	if len(l.queue[workspace]) == 0 {
		delete(l.queue, workspace)
	}
	if l.used[workspace] <= 0 {
		delete(l.used, workspace)
	}
}

func (l *Local) releaser(workspace string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.used[workspace]--
			l.grantLocked(workspace)
			l.tidyLocked(workspace)
		})
	}
}
