package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// printSlowest shows where the time of the n slowest events went: each
// history event of their workflow, as milliseconds after the publish, and
// when the receiver saw the request. An outlier in a latency figure is
// then a visible gap (in matching, before a workflow task started; in a
// first attempt; on a retry timer), not a guess.
func (e *env) printSlowest(ctx context.Context, p *publisher.Publisher, ws string, sent map[string]time.Time, n int) {
	type slow struct {
		id  string
		lat time.Duration
	}
	var all []slow
	e.rcv.mu.Lock()
	for id, at := range sent {
		if got, ok := e.rcv.got[id]; ok {
			all = append(all, slow{id, got.Sub(at)})
		}
	}
	e.rcv.mu.Unlock()
	slices.SortFunc(all, func(a, b slow) int { return int(b.lat - a.lat) })
	for _, s := range all[:min(n, len(all))] {
		at := sent[s.id]
		var steps []string
		it := e.tc.GetWorkflowHistory(ctx, workflows.WorkflowID(ws, s.id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				steps = append(steps, "history: "+err.Error())
				break
			}
			name := strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")
			steps = append(steps, fmt.Sprintf("%s %+.0f", name, ms(ev.GetEventTime().AsTime().Sub(at))))
		}
		if o, err := p.Show(ctx, ws, s.id); err == nil && len(o.Deliveries) > 0 {
			for _, a := range o.Deliveries[0].Attempts {
				steps = append(steps, fmt.Sprintf("attempt %d sent %+.0f, took %d", a.Number, ms(a.StartedAt.Sub(at)), a.DurationMS))
			}
		}
		fmt.Printf("        slow event %s: %.0f ms to the receiver; history (ms after publish): %s\n", s.id, ms(s.lat), strings.Join(steps, ", "))
	}
}

// backlogSampler samples the delivery queue's workflow-task backlog
// (matching's own figures) until stop is closed, and prints its series.
func (e *env) backlogSampler(ctx context.Context, start time.Time, stop <-chan struct{}) func() {
	var series []string
	wait := every(250*time.Millisecond, stop, func() {
		resp, err := e.tc.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace:     "default",
			TaskQueue:     &taskqueuepb.TaskQueue{Name: e.run, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
			ReportStats:   true,
		})
		if err != nil {
			series = append(series, "err: "+err.Error())
			return
		}
		st := resp.GetStats()
		series = append(series, fmt.Sprintf("%+.1fs n=%d age=%.0fms add=%.0f/s out=%.0f/s", time.Since(start).Seconds(), st.GetApproximateBacklogCount(), ms(st.GetApproximateBacklogAge().AsDuration()), st.GetTasksAddRate(), st.GetTasksDispatchRate()))
	})
	return func() {
		wait()
		fmt.Printf("        workflow-task backlog of the delivery queue: %s\n", strings.Join(series[:min(len(series), 40)], "; "))
	}
}

// cpuSampler samples the CPU time of each process of the run (e.cpuNow:
// the Temporal server, PostgreSQL with its backends on -backend postgres,
// Redis, the worker and this process with its receivers and publishers)
// every 500 ms until stop is closed, and prints each one's share of a core
// per interval: during an outage it shows which process the quiet
// workspace's events queue behind.
func cpuSampler(e *env, w *workerProc, start time.Time, stop <-chan struct{}) func() {
	var series []string
	last, lastAt := e.cpuNow(w), time.Now()
	wait := every(500*time.Millisecond, stop, func() {
		now, at := e.cpuNow(w), time.Now()
		// Over the interval actually elapsed: on a loaded machine a tick
		// can come late.
		span := at.Sub(lastAt).Seconds()
		parts := []string{fmt.Sprintf("%+.1fs", at.Sub(start).Seconds())}
		for _, k := range cpuParts {
			if _, ok := now[k]; ok {
				parts = append(parts, fmt.Sprintf("%s %3.0f%%", k, 100*(now[k]-last[k]).Seconds()/span))
			}
		}
		last, lastAt = now, at
		series = append(series, strings.Join(parts, " "))
	})
	return func() {
		wait()
		fmt.Printf("        CPU (share of one core, sampled every 500 ms): %s\n", strings.Join(series, "; "))
	}
}

// procCPU is a process's user+system CPU time from /proc (0 if unknown).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// serverPID finds the newest Temporal dev server process.
func serverPID() int {
	ents, _ := os.ReadDir("/proc")
	best := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmd), "start-dev") && pid > best {
			best = pid
		}
	}
	return best
}

// every runs fn every interval in a goroutine until stop is closed; the
// returned func waits for the goroutine to end.
func every(interval time.Duration, stop <-chan struct{}, fn func()) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				fn()
			}
		}
	}()
	return func() { <-done }
}
