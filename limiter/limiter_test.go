package limiter

import (
	"context"
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
			release, err := l.Acquire(context.Background(), "a")
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
	if _, err := l.Acquire(ctx, "a"); err == nil {
		t.Fatal("Acquire at the limit did not give up with its context")
	}
	got := make(chan struct{})
	go func() {
		r, err := l.Acquire(context.Background(), "a")
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
