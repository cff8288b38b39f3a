package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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
// CPU work took, and how late its timer woke it, run at the light-load
// scenario's cadence on this machine with nothing of ours running.
type stallResult struct {
	n                int
	quickest         time.Duration
	p50, p99, max    time.Duration
	lateP50, lateP99 time.Duration // how late each run's timer fired
	stealMS          int64
}

func (s stallResult) String() string {
	if s.n == 0 {
		return "the machine alone: not measured (no runs)"
	}
	steal := "not readable"
	if s.stealMS >= 0 {
		steal = fmt.Sprintf("%d ms, summed over the CPUs", s.stealMS)
	}
	return fmt.Sprintf("the machine alone: pure CPU work (%.1f ms at its quickest), %d times 100 ms apart, nothing of ours running, took p50 %.1f ms  p99 %.1f ms  max %.1f ms; its timer woke p50 %.2f ms  p99 %.2f ms late (steal column of /proc/stat meanwhile: %s)",
		ms(s.quickest), s.n, ms(s.p50), ms(s.p99), ms(s.max), ms(s.lateP50), ms(s.lateP99), steal)
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
// thread, and how late each start's timer fired. On an idle machine every
// run takes the same time; what the slowest runs take beyond it is the
// machine (the hypervisor taking the CPU, other processes), not the
// product. A delivery's path is several such pieces in three processes,
// each woken from idle, so this is a lower bound of what the machine adds
// to it, not the whole.
func stallProbe(n int, every, work time.Duration) stallResult {
	var res stallResult
	if n <= 0 {
		return res
	}
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
		late := make([]time.Duration, 0, n)
		steal := stealMS()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range n {
			due := <-tick.C
			t := time.Now()
			late = append(late, t.Sub(due))
			spinSink += spin(rounds)
			took = append(took, time.Since(t))
		}
		if after := stealMS(); steal >= 0 && after >= 0 {
			res.stealMS = after - steal
		} else {
			res.stealMS = -1
		}
		res.n = len(took)
		res.quickest, res.max = slices.Min(took), slices.Max(took)
		res.p50, res.p99 = percentiles(took)
		res.lateP50, res.lateP99 = percentiles(late)
	}()
	wg.Wait()
	return res
}
