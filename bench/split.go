package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/hari-crm/webhooks/event"
)

// callTimes records how long each event's publish call took.
type callTimes struct {
	mu sync.Mutex
	d  map[string]time.Duration
}

// timed wraps a publish function so that c records each call's duration.
func (c *callTimes) timed(fn func(event.Event) error) func(event.Event) error {
	c.d = map[string]time.Duration{}
	return func(ev event.Event) error {
		t := time.Now()
		err := fn(ev)
		took := time.Since(t)
		c.mu.Lock()
		c.d[ev.ID] = took
		c.mu.Unlock()
		return err
	}
}

// split says where a light-load line's latency went, each part with its
// own percentiles (they do not add up): the publish call (for the API door
// the worker's HTTP API and the server's StartWorkflowExecution with eager
// start, the same durable start any workflow per event pays; for the routed
// API door also the registry query before it), and from the call's answer
// to the receiver (the worker's workflow task, limiter and HTTPS POST; for
// a client door without eager start also the server's task queue). An
// eager workflow task can reach the receiver before the call's answer
// reaches the publisher: those events count as "before the answer" and
// are left out of the second part's percentiles. The steal column of
// /proc/stat over the line (summed over the CPUs) is printed as read; on a
// virtual machine it counts only part of what the hypervisor takes.
func (e *env) split(evs []event.Event, sent map[string]time.Time, c *callTimes, steal0 int64) string {
	e.rcv.mu.Lock()
	defer e.rcv.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var call, after []time.Duration
	early, missing := 0, 0
	for _, ev := range evs {
		at, ok := sent[ev.ID]
		got, ok2 := e.rcv.got[ev.ID]
		d, ok3 := c.d[ev.ID]
		if !ok || !ok2 || !ok3 {
			missing++
			continue
		}
		call = append(call, d)
		if rest := got.Sub(at) - d; rest >= 0 {
			after = append(after, rest)
		} else {
			early++
		}
	}
	steal := "not readable"
	if s := stealMS(); s >= 0 && steal0 >= 0 {
		steal = fmt.Sprintf("%d ms", s-steal0)
	}
	return fmt.Sprintf("        each part of %d events: the publish call %s; from its answer to the receiver %s (%d delivered before the answer, %d not measured; steal column of /proc/stat during the line: %s)",
		len(call), pcts(call), pcts(after), early, missing, steal)
}

// pcts is d's p50 and p99, or "not measured" when d is empty.
func pcts(d []time.Duration) string {
	if len(d) == 0 {
		return "not measured"
	}
	p50, p99 := percentiles(d)
	return fmt.Sprintf("p50 %.1f ms  p99 %.1f ms", ms(p50), ms(p99))
}
