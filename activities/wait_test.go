package activities

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/limiter"
)

// When the waiters of a workspace are at their bound, an older delivery
// takes the youngest waiter's place; a younger one is turned away.
func TestWaitQueueKeepsTheOldest(t *testing.T) {
	var q waitQueue
	base := time.Unix(1000, 0)
	ticket := func(id string, age time.Duration) limiter.Ticket {
		return limiter.Ticket{ID: id, Since: base.Add(-age)}
	}
	causes := map[string]*error{}
	join := func(tk limiter.Ticket) (func(), bool) {
		var cause error
		causes[tk.ID] = &cause
		return q.join("ws", tk, 2, func(err error) { cause = err })
	}
	leaveOld, ok1 := join(ticket("old", time.Hour))
	_, ok2 := join(ticket("young", time.Minute))
	if !ok1 || !ok2 {
		t.Fatal("the first two waiters were refused")
	}
	if _, ok := join(ticket("newest", 0)); ok {
		t.Error("a third, younger waiter was admitted beyond the bound of 2")
	}
	leaveOlder, ok := join(ticket("older", 2*time.Hour))
	if !ok {
		t.Fatal("an older waiter was refused while a younger one waited")
	}
	if got := *causes["young"]; !errors.Is(got, errOvertaken) {
		t.Errorf("the youngest waiter ended with %v, want errOvertaken", got)
	}
	if got := *causes["old"]; got != nil {
		t.Errorf("the old waiter was evicted (%v), want kept", got)
	}
	leaveOld()
	leaveOlder()
	if len(q.ws) != 0 {
		t.Errorf("%d workspaces left in the queue after every waiter left, want 0", len(q.ws))
	}
}

// boundedWait ends an evicted waiter's wait at once, with the reason.
func TestBoundedWaitOvertaken(t *testing.T) {
	lim := limiter.NewLocal(1)
	hold, _, _ := lim.TryAcquire(context.Background(), "ws")
	defer hold()
	a := &Activities{Limiter: lim}
	base := time.Unix(1000, 0)
	errc := make(chan error, 1)
	go func() {
		_, err := a.boundedWait(context.Background(), "ws", limiter.Ticket{ID: "young", Since: base}, &a.waiting, 1, time.Minute, "busy")
		errc <- err
	}()
	for lim.Waiting("ws") == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	go func() {
		_, _ = a.boundedWait(ctx, "ws", limiter.Ticket{ID: "old", Since: base.Add(-time.Hour)}, &a.waiting, 1, time.Minute, "busy")
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, errNoSlot) || !strings.Contains(err.Error(), "began waiting earlier") {
			t.Errorf("got %v, want errNoSlot naming the older delivery", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the younger waiter was not evicted by the older one")
	}
}
