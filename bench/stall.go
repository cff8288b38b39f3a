package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hari-crm/webhooks/event"
)

// stealMS is the CPU time the hypervisor has taken from this machine's
// CPUs since boot (the steal column of /proc/stat), in milliseconds; -1
// when it cannot be read.
func stealMS() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	ticks, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return -1
	}
	return ticks * 10 // USER_HZ is 100 on Linux
}

// stallResult is what the stall probe measured: how long a fixed piece of
// CPU work took, run at the light-load scenario's cadence on this machine
// with nothing else of ours running.
type stallResult struct {
	n             int
	p50, p99, max time.Duration
	stealMS       int64
}

func (s stallResult) String() string {
	steal := "not readable"
	if s.stealMS >= 0 {
		steal = fmt.Sprintf("%d ms", s.stealMS)
	}
	return fmt.Sprintf("the machine alone: about 5 ms of pure CPU work, %d times 100 ms apart, nothing of ours running, took p50 %.1f ms  p99 %.1f ms  max %.1f ms (hypervisor steal meanwhile: %s)",
		s.n, ms(s.p50), ms(s.p99), ms(s.max), steal)
}

// spin is a fixed amount of CPU work: n rounds of a multiply-add that the
// compiler cannot drop.
func spin(n int) uint64 {
	x := uint64(1)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var spinSink uint64

// stallProbe measures the machine's own latency floor for scenario (d): a
// piece of pure CPU work about as long as work (no I/O, no allocation, no
// other goroutine), started every `every` for n times on a locked OS
// thread. On an idle machine every run takes the same time; what the
// slowest runs take beyond it is the machine (the hypervisor taking the
// CPU, other processes), not the product, and it lands on any delivery
// in flight at that moment in the same way.
func stallProbe(n int, every, work time.Duration) stallResult {
	var res stallResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// Calibrate: double until a run takes a measurable time, then
		// scale to work.
		rounds := 1 << 16
		for {
			t := time.Now()
			spinSink += spin(rounds)
			if took := time.Since(t); took >= work/4 || rounds > 1<<34 {
				rounds = int(float64(rounds) * float64(work) / float64(max(took, time.Microsecond)))
				break
			}
			rounds *= 2
		}
		took := make([]time.Duration, 0, n)
		steal := stealMS()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range n {
			<-tick.C
			t := time.Now()
			spinSink += spin(rounds)
			took = append(took, time.Since(t))
		}
		if after := stealMS(); steal >= 0 && after >= 0 {
			res.stealMS = after - steal
		} else {
			res.stealMS = -1
		}
		res.n = len(took)
		res.p50, res.p99 = percentiles(took)
		res.max = took[len(took)-1] // percentiles sorted it
	}()
	wg.Wait()
	return res
}

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

// split says where a light-load line's latency went: the publish call
// (for the API door: the worker's HTTP API and the server's
// StartWorkflowExecution with eager start, the same durable start any
// workflow per event pays), and from the call's answer to the receiver
// (the worker's workflow task, limiter and HTTPS POST; for a client door
// without eager start also the server's task queue), with the hypervisor's
// steal over the line.
func (e *env) split(evs []event.Event, sent map[string]time.Time, c *callTimes, steal0 int64) string {
	e.rcv.mu.Lock()
	defer e.rcv.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var call, after []time.Duration
	for _, ev := range evs {
		at, ok := sent[ev.ID]
		got, ok2 := e.rcv.got[ev.ID]
		d, ok3 := c.d[ev.ID]
		if !ok || !ok2 || !ok3 {
			continue
		}
		call = append(call, d)
		after = append(after, max(0, got.Sub(at)-d))
	}
	c50, c99 := percentiles(call)
	a50, a99 := percentiles(after)
	steal := "not readable"
	if s := stealMS(); s >= 0 && steal0 >= 0 {
		steal = fmt.Sprintf("%d ms", s-steal0)
	}
	return fmt.Sprintf("        of which the publish call p50 %.1f ms  p99 %.1f ms; from its answer to the receiver p50 %.1f ms  p99 %.1f ms (hypervisor steal during the line: %s)",
		ms(c50), ms(c99), ms(a50), ms(a99), steal)
}
