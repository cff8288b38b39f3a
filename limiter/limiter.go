// Package limiter bounds how many webhook attempts of one workspace are in
// flight at once. Local is the in-process limiter of the embedded default
// (one worker process).
package limiter

import (
	"context"
	"fmt"
	"sync"
)

// DefaultLimit is the spec's maximum of concurrent deliveries per workspace.
const DefaultLimit = 50

// Local is a per-workspace counting semaphore inside one process. Waiters
// are woken in arrival order as slots free up, without polling.
type Local struct {
	limit int

	mu      sync.Mutex
	used    map[string]int
	waiters map[string][]chan struct{}
}

// NewLocal returns a limiter allowing limit attempts per workspace.
func NewLocal(limit int) *Local {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Local{limit: limit, used: map[string]int{}, waiters: map[string][]chan struct{}{}}
}

// InFlight returns how many slots of workspace are held.
func (l *Local) InFlight(workspace string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used[workspace]
}

// TryAcquire takes a slot if one is free at once.
func (l *Local) TryAcquire(_ context.Context, workspace string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used[workspace] >= l.limit || len(l.waiters[workspace]) > 0 {
		return nil, false, nil
	}
	l.used[workspace]++
	return l.releaser(workspace), true, nil
}

// Acquire waits for a slot until ctx ends.
func (l *Local) Acquire(ctx context.Context, workspace string) (func(), error) {
	l.mu.Lock()
	if l.used[workspace] < l.limit && len(l.waiters[workspace]) == 0 {
		l.used[workspace]++
		l.mu.Unlock()
		return l.releaser(workspace), nil
	}
	ch := make(chan struct{})
	l.waiters[workspace] = append(l.waiters[workspace], ch)
	l.mu.Unlock()

	select {
	case <-ch: // the releaser handed its slot to us
		return l.releaser(workspace), nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		q := l.waiters[workspace]
		for i, w := range q {
			if w == ch {
				l.waiters[workspace] = append(q[:i:i], q[i+1:]...)
				return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", workspace, ctx.Err())
			}
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
		ch := q[0]
		if len(q) == 1 {
			delete(l.waiters, workspace)
		} else {
			l.waiters[workspace] = q[1:]
		}
		close(ch) // the slot passes to the waiter; used stays the same
		return
	}
	l.used[workspace]--
	if l.used[workspace] <= 0 {
		delete(l.used, workspace)
	}
}
