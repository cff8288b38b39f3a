package limiter_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/internal/redistest"
	"github.com/hari-crm/webhooks/limiter"
)

// Two limiters over one Redis (two workers) never exceed the limit
// together, and reach it.
func TestRedisLimitIsGlobal(t *testing.T) {
	srv := redistest.Start(t)
	a := limiter.NewRedis(srv.Client(t), 5, 0)
	b := limiter.NewRedis(srv.Client(t), 5, 0)
	var inFlight, peak atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := l.Acquire(context.Background(), "ws-a", limiter.Ticket{ID: fmt.Sprint("d", i), Since: time.Now()})
			if err != nil {
				t.Error(err)
				return
			}
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			inFlight.Add(-1)
			rel()
		}()
	}
	// Another workspace is not held back.
	rel, ok, err := b.TryAcquire(context.Background(), "ws-b")
	if err != nil || !ok {
		t.Errorf("workspace b refused while a is busy: %v", err)
	} else {
		rel()
	}
	wg.Wait()
	if p := peak.Load(); p != 5 {
		t.Errorf("peak in flight across two limiters %d, want exactly 5", p)
	}
	if n, _ := a.InFlight(context.Background(), "ws-a"); n != 0 {
		t.Errorf("%d leases left after all released", n)
	}
}

// A released slot is taken up at once by a waiter in another process,
// through pub/sub, not after the poll interval.
func TestRedisWakesWaitersPromptly(t *testing.T) {
	srv := redistest.Start(t)
	a := limiter.NewRedis(srv.Client(t), 1, 0)
	b := limiter.NewRedis(srv.Client(t), 1, 0)
	b.PollInterval = 10 * time.Second
	rel, ok, _ := a.TryAcquire(context.Background(), "ws")
	if !ok {
		t.Fatal("first slot refused")
	}
	got := make(chan time.Time, 1)
	go func() {
		r, err := b.Acquire(context.Background(), "ws", limiter.Ticket{ID: "w", Since: time.Now()})
		if err == nil {
			got <- time.Now()
			r()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	released := time.Now()
	rel()
	select {
	case at := <-got:
		if d := at.Sub(released); d > 250*time.Millisecond {
			t.Errorf("the waiter took the slot %s after release, want well under the 10 s poll interval (250 ms)", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter was not woken")
	}
}

// A worker that dies holding slots gives them back by lease expiry.
func TestRedisLeasesExpire(t *testing.T) {
	srv := redistest.Start(t)
	dead := limiter.NewRedis(srv.Client(t), 2, 500*time.Millisecond)
	for i := 0; i < 2; i++ {
		if _, ok, _ := dead.TryAcquire(context.Background(), "ws"); !ok {
			t.Fatal("slot refused")
		}
	}
	// The holder "crashes": it never releases.
	alive := limiter.NewRedis(srv.Client(t), 2, 500*time.Millisecond)
	alive.PollInterval = 50 * time.Millisecond
	if _, ok, _ := alive.TryAcquire(context.Background(), "ws"); ok {
		t.Fatal("a slot beyond the limit was granted")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rel, err := alive.Acquire(ctx, "ws", limiter.Ticket{ID: "w", Since: time.Now()})
	if err != nil {
		t.Fatalf("the dead worker's slot never came back: %v", err)
	}
	rel()
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("slot came back after %s, want within the 500 ms lease (+ poll)", d)
	}
}

// While a caller waits, a newcomer of the same worker does not take the
// next freed slot ahead of it.
func TestRedisWaitersGoFirst(t *testing.T) {
	srv := redistest.Start(t)
	l := limiter.NewRedis(srv.Client(t), 1, 0)
	rel, ok, _ := l.TryAcquire(context.Background(), "ws")
	if !ok {
		t.Fatal("first slot refused")
	}
	got := make(chan func(), 1)
	go func() {
		r, err := l.Acquire(context.Background(), "ws", limiter.Ticket{ID: "w", Since: time.Now()})
		if err == nil {
			got <- r
		}
	}()
	time.Sleep(200 * time.Millisecond) // the waiter is queued
	rel()
	if _, ok, _ := l.TryAcquire(context.Background(), "ws"); ok {
		t.Error("a newcomer took the freed slot ahead of the waiter")
	}
	select {
	case r := <-got:
		r()
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter did not get the slot")
	}
}

// Across two processes, a freed slot goes to the older ticket even when
// the newer one has waited here longer, and a caller that does not wait,
// in either process, never takes a slot from a waiter.
func TestRedisOlderTicketWinsAcrossWorkers(t *testing.T) {
	srv := redistest.Start(t)
	a := limiter.NewRedis(srv.Client(t), 1, 0)
	b := limiter.NewRedis(srv.Client(t), 1, 0)
	rel, ok, _ := a.TryAcquire(context.Background(), "ws")
	if !ok {
		t.Fatal("first slot refused")
	}
	now := time.Now()
	got := make(chan string, 2)
	wait := func(l *limiter.Redis, id string, since time.Time) {
		r, err := l.Acquire(context.Background(), "ws", limiter.Ticket{ID: id, Since: since})
		if err != nil {
			t.Error(err)
			return
		}
		got <- id
		time.Sleep(50 * time.Millisecond)
		r()
	}
	go wait(a, "newer", now)                 // queues first, in process a
	time.Sleep(300 * time.Millisecond)       // it is well established
	go wait(b, "older", now.Add(-time.Hour)) // began waiting an hour ago, in process b
	time.Sleep(300 * time.Millisecond)
	for _, l := range []*limiter.Redis{a, b} {
		if _, ok, _ := l.TryAcquire(context.Background(), "ws"); ok {
			t.Fatal("a caller that does not wait took the slot while two waited")
		}
	}
	rel()
	var order []string
	for range 2 {
		select {
		case id := <-got:
			order = append(order, id)
		case <-time.After(5 * time.Second):
			t.Fatalf("served %v, want both", order)
		}
	}
	if order[0] != "older" {
		t.Errorf("served in order %v, want [older newer]: the older ticket (other process, queued later) first", order)
	}
}

// A waiter that dies (its client gone, its ticket never refreshed) holds
// nobody back for longer than its ticket's presence.
func TestRedisDeadWaiterGoesStale(t *testing.T) {
	srv := redistest.Start(t)
	holder := limiter.NewRedis(srv.Client(t), 1, 0)
	rel, ok, _ := holder.TryAcquire(context.Background(), "ws")
	if !ok {
		t.Fatal("first slot refused")
	}
	deadClient := srv.Client(t)
	dead := limiter.NewRedis(deadClient, 1, 0)
	dead.PollInterval = 100 * time.Millisecond // its ticket is stale after 300 ms
	errc := make(chan error, 1)
	go func() {
		_, err := dead.Acquire(context.Background(), "ws", limiter.Ticket{ID: "dead", Since: time.Now().Add(-time.Hour)})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	_ = deadClient.Close() // the process is gone: no refresh, no leave
	if err := <-errc; err == nil {
		t.Fatal("the dead waiter got a slot")
	}
	rel()
	alive := limiter.NewRedis(srv.Client(t), 1, 0)
	alive.PollInterval = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	r, err := alive.Acquire(ctx, "ws", limiter.Ticket{ID: "alive", Since: time.Now()})
	if err != nil {
		t.Fatalf("the slot stayed reserved for a dead waiter: %v", err)
	}
	r()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("got the slot after %s, want within the dead ticket's 300 ms presence (+ poll and CI slack: 2 s)", d)
	}
}

// A ticket held between two rounds keeps its place across the deployment:
// the old delivery waits in one worker, the young one in another.
func TestRedisHeldTicketKeepsItsPlace(t *testing.T) {
	srv := redistest.Start(t)
	ours := limiter.NewRedis(srv.Client(t), 1, 0)
	theirs := limiter.NewRedis(srv.Client(t), 1, 0)
	// A ticket nobody refreshes goes stale after 300 ms: far less than
	// the holds, so only the hold keeps the place.
	ours.PollInterval, theirs.PollInterval = 100*time.Millisecond, 100*time.Millisecond
	limiter.HeldPlace(t, func(ctx context.Context, tk limiter.Ticket) (func(), error) {
		l := ours
		if tk.ID == "young" || tk.ID == "next" {
			l = theirs
		}
		return l.Acquire(ctx, "ws", tk)
	})
	if _, ok, _ := theirs.TryAcquire(context.Background(), "ws"); !ok {
		t.Error("TryAcquire refused after every place was given up")
	}
}
