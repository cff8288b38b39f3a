package main

import (
	"context"
	"fmt"
	"slices"
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			resp, err := e.tc.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace:     "default",
				TaskQueue:     &taskqueuepb.TaskQueue{Name: e.run, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
				TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
				ReportStats:   true,
			})
			if err != nil {
				series = append(series, "err: "+err.Error())
				continue
			}
			st := resp.GetStats()
			series = append(series, fmt.Sprintf("%+.1fs n=%d age=%.0fms add=%.0f/s out=%.0f/s", time.Since(start).Seconds(), st.GetApproximateBacklogCount(), ms(st.GetApproximateBacklogAge().AsDuration()), st.GetTasksAddRate(), st.GetTasksDispatchRate()))
		}
	}()
	return func() {
		<-done
		fmt.Printf("        workflow-task backlog of the delivery queue: %s\n", strings.Join(series[:min(len(series), 40)], "; "))
	}
}
