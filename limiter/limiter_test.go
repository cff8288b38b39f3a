package limiter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLocalBoundsEachWorkspace(t *testing.T) {
	l := NewLocal(3)
	var inFlight, peak atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := l.Acquire(context.Background(), "a", Ticket{ID: "x", Since: time.Now()})
			if err != nil {
				t.Error(err)
				return
			}
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inFlight.Add(-1)
			release()
		}()
	}
	// Another workspace is not held back by a's queue.
	rel, ok, _ := l.TryAcquire(context.Background(), "b")
	if !ok {
		t.Error("workspace b was refused while only a was busy")
	} else {
		rel()
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Errorf("peak in flight %d, want 3", p)
	}
	if n := l.InFlight("a"); n != 0 {
		t.Errorf("%d slots still held after all released", n)
	}
}

func TestLocalTryAcquireAndCancel(t *testing.T) {
	l := NewLocal(1)
	rel, ok, _ := l.TryAcquire(context.Background(), "a")
	if !ok {
		t.Fatal("first TryAcquire refused")
	}
	if _, ok, _ := l.TryAcquire(context.Background(), "a"); ok {
		t.Fatal("second TryAcquire granted beyond the limit")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "a", Ticket{ID: "y", Since: time.Now()}); err == nil {
		t.Fatal("Acquire at the limit did not give up with its context")
	}
	got := make(chan struct{})
	go func() {
		r, err := l.Acquire(context.Background(), "a", Ticket{ID: "x", Since: time.Now()})
		if err == nil {
			close(got)
			r()
		}
	}()
	time.Sleep(10 * time.Millisecond)
	rel()
	rel() // a second call is harmless
	select {
	case <-got:
	case <-time.After(time.Second):
		t.Fatal("a waiter was not woken when the slot was released")
	}
	time.Sleep(10 * time.Millisecond)
	if n := l.InFlight("a"); n != 0 {
		t.Errorf("%d slots held, want 0", n)
	}
}

// A freed slot goes to the oldest ticket, not to the caller that queued
// first, and a caller that does not wait never overtakes a waiter.
func TestLocalServesOldestTicketFirst(t *testing.T) {
	l := NewLocal(1)
	rel, ok, _ := l.TryAcquire(context.Background(), "ws")
	if !ok {
		t.Fatal("first TryAcquire refused")
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	order := make(chan string, 3)
	// Queue in the order young, old, middle.
	for _, w := range []struct {
		id  string
		age time.Duration
	}{{"young", 0}, {"old", -2 * time.Hour}, {"middle", -time.Hour}} {
		go func() {
			r, err := l.Acquire(context.Background(), "ws", Ticket{ID: w.id, Since: base.Add(w.age)})
			if err != nil {
				t.Error(err)
				return
			}
			order <- w.id
			time.Sleep(5 * time.Millisecond)
			r()
		}()
		for l.Waiting("ws") == 0 || !waiting(l, "ws", w.id) {
			time.Sleep(time.Millisecond)
		}
	}
	if _, ok, _ := l.TryAcquire(context.Background(), "ws"); ok {
		t.Error("a caller that does not wait took a slot while three waited")
	}
	rel()
	var got []string
	for range 3 {
		select {
		case id := <-order:
			got = append(got, id)
		case <-time.After(3 * time.Second):
			t.Fatalf("waiters served: %v, want 3", got)
		}
	}
	if want := []string{"old", "middle", "young"}; !slices.Equal(got, want) {
		t.Errorf("served in order %v, want %v (oldest ticket first)", got, want)
	}
}

func waiting(l *Local, ws, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.queue[ws] {
		if w.t.ID == id && w.ch != nil {
			return true
		}
	}
	return false
}

// heldPlace is the contract of Ticket.Hold, for any limiter: a delivery
// whose wait ran out keeps its place while it is between rounds (a younger
// waiter does not get the slot freed meanwhile), takes it on its return,
// and loses the place when it does not come back within the hold.
func heldPlace(t *testing.T, acquire func(ctx context.Context, tk Ticket) (func(), error)) {
	t.Helper()
	base := time.Now().Add(-time.Minute)
	holder, err := acquire(context.Background(), Ticket{ID: "holder", Since: base})
	if err != nil {
		t.Fatal(err)
	}
	// The old delivery's round ends without a slot; it keeps its place 2 s.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = acquire(ctx, Ticket{ID: "old", Since: base.Add(time.Second), Hold: 2 * time.Second})
	cancel()
	if !errors.Is(err, ErrPlaceKept) {
		t.Fatalf("the old delivery's round: got %v, want it to end with its place kept", err)
	}
	// A younger delivery waits; the slot is freed while the old one is away.
	young := make(chan func(), 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rel, err := acquire(ctx, Ticket{ID: "young", Since: base.Add(2 * time.Second)}); err == nil {
			young <- rel
		}
	}()
	time.Sleep(100 * time.Millisecond)
	holder()
	select {
	case rel := <-young:
		rel()
		t.Fatal("a younger delivery took the slot while the old one was between rounds")
	case <-time.After(300 * time.Millisecond):
	}
	// The old delivery comes back: the slot is its own at once.
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	rel, err := acquire(ctx, Ticket{ID: "old", Since: base.Add(time.Second), Hold: 2 * time.Second})
	cancel()
	if err != nil {
		t.Fatalf("the old delivery did not get the slot kept for it: %v", err)
	}
	// Released, the slot goes to the young delivery, still waiting.
	rel()
	select {
	case rel := <-young:
		rel()
	case <-time.After(2 * time.Second):
		t.Fatal("the young delivery did not get the slot after the old one")
	}

	// A held place that nobody comes back to lapses: the slot goes on.
	holder, err = acquire(context.Background(), Ticket{ID: "holder2", Since: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _ = acquire(ctx, Ticket{ID: "gone", Since: base.Add(time.Second), Hold: 400 * time.Millisecond})
	cancel()
	holder()
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	rel, err = acquire(ctx, Ticket{ID: "next", Since: base.Add(3 * time.Second)})
	cancel()
	if err != nil {
		t.Fatalf("the slot stayed kept for a delivery that never came back: %v", err)
	}
	rel()
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 2*time.Second {
		t.Errorf("the next delivery got the slot after %s, want when the held place lapsed (400 ms)", waited)
	}
}

func TestLocalHeldTicketKeepsItsPlace(t *testing.T) {
	l := NewLocal(1)
	heldPlace(t, func(ctx context.Context, tk Ticket) (func(), error) { return l.Acquire(ctx, "a", tk) })
	if _, ok, _ := l.TryAcquire(context.Background(), "a"); !ok {
		t.Error("TryAcquire refused after every place was given up")
	}
}

// Under a storm of waits that time out (some keeping their place), are
// cancelled or get a slot, the limit is never exceeded, and once every
// caller is gone and the kept places have lapsed, every slot is free and
// nothing is queued.
func TestLocalStormNeverExceedsAndDrains(t *testing.T) {
	const limit = 3
	l := NewLocal(limit)
	var inFlight, peak atomic.Int32
	var wg sync.WaitGroup
	base := time.Now()
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := Ticket{ID: fmt.Sprint("d", i%40), Since: base.Add(time.Duration(i%40) * time.Millisecond)}
			if i%3 == 0 {
				tk.Hold = 30 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%7)*time.Millisecond)
			if i%5 == 0 {
				cancel() // cancelled, not timed out: never keeps a place
			}
			defer cancel()
			rel, err := l.Acquire(ctx, "a", tk)
			if err != nil {
				return
			}
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			inFlight.Add(-1)
			rel()
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Errorf("peak in flight %d, above the limit %d", p, limit)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		l.mu.Lock()
		used, queued := l.used["a"], len(l.queue["a"])
		l.mu.Unlock()
		if used == 0 && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after every caller left: %d slots held, %d tickets queued, want none", used, queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rel, ok, _ := l.TryAcquire(context.Background(), "a"); !ok {
		t.Error("TryAcquire refused on an idle limiter")
	} else {
		rel()
	}
}
