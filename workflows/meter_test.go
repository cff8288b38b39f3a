package workflows

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hari-crm/webhooks/activities"
)

// historyMeter measures the history one run of EventWorkflow would have on
// a server, from the SDK test environment's listeners: for every step it
// builds the history event the server records (with the payloads the
// default data converter makes of the real inputs, results and failures)
// and adds its protobuf size. It counts a workflow task (3 events) for
// every wake-up (activity result, timer, local activity), where a server
// often batches several, so it is an upper estimate.
type historyMeter struct {
	t      *testing.T
	dc     converter.DataConverter
	fc     converter.FailureConverter
	mu     sync.Mutex
	events int
	bytes  int
	inputs map[string]*commonpb.Payloads // scheduled DeliverWebhook inputs by activity ID
	tries  map[string]int32              // the highest attempt started, by activity ID
	in     EventInput
	// scheduled is set once a DeliverWebhook was scheduled (the run then
	// records the deliver-fairness-fifo version marker).
	scheduled bool
}

func newHistoryMeter(t *testing.T, env *testsuite.TestWorkflowEnvironment, in EventInput) *historyMeter {
	m := &historyMeter{t: t, dc: converter.GetDefaultDataConverter(), fc: temporal.GetDefaultFailureConverter(),
		inputs: map[string]*commonpb.Payloads{}, tries: map[string]int32{}, in: in}
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
		WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
			WorkflowType:           &commonpb.WorkflowType{Name: EventWorkflowName},
			TaskQueue:              &taskqueuepb.TaskQueue{Name: TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			Input:                  m.payloads(in),
			WorkflowTaskTimeout:    durationpb.New(10 * time.Second),
			OriginalExecutionRunId: uuid.NewString(), FirstExecutionRunId: uuid.NewString(),
			Identity: "worker@host", Attempt: 1, FirstWorkflowTaskBackoff: durationpb.New(0),
			WorkflowExecutionTimeout: durationpb.New(0), WorkflowRunTimeout: durationpb.New(0),
			SearchAttributes:        m.searchAttributes(m.eventAttributes()),
			Priority:                &commonpb.Priority{FairnessKey: FairnessKey(in.Event.Workspace)},
			ContinuedExecutionRunId: uuid.NewString(), Initiator: enumspb.CONTINUE_AS_NEW_INITIATOR_WORKFLOW,
		}}})
	m.workflowTask()
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		m.mu.Lock()
		m.tries[info.ActivityID] = max(m.tries[info.ActivityID], info.Attempt)
		m.mu.Unlock()
		if info.Attempt != 1 {
			return
		}
		var din activities.DeliverInput
		if err := args.Get(&din); err != nil {
			t.Errorf("meter: decode %s input: %v", info.ActivityType.Name, err)
		}
		m.mu.Lock()
		m.inputs[info.ActivityID] = m.payloads(din)
		m.mu.Unlock()
	})
	env.SetOnActivityCompletedListener(func(info *activity.Info, result converter.EncodedValue, err error) {
		m.mu.Lock()
		input := m.inputs[info.ActivityID]
		tries := m.tries[info.ActivityID]
		delete(m.inputs, info.ActivityID)
		delete(m.tries, info.ActivityID)
		m.scheduled = true
		m.mu.Unlock()
		var out activities.DeliverResult
		if err == nil {
			if derr := result.Get(&out); derr != nil {
				t.Errorf("meter: decode result: %v", derr)
			}
		}
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityId: info.ActivityID, ActivityType: &commonpb.ActivityType{Name: info.ActivityType.Name},
				TaskQueue: &taskqueuepb.TaskQueue{Name: TaskQueue}, Input: input,
				ScheduleToCloseTimeout: durationpb.New(0), ScheduleToStartTimeout: durationpb.New(0),
				StartToCloseTimeout: durationpb.New(activityTimeout), HeartbeatTimeout: durationpb.New(0),
				WorkflowTaskCompletedEventId: 1 << 20, RetryPolicy: &commonpb.RetryPolicy{
					InitialInterval: durationpb.New(time.Second), BackoffCoefficient: 2, MaximumInterval: durationpb.New(4 * time.Second),
					MaximumAttempts: 4, NonRetryableErrorTypes: RetryPolicy(0).NonRetryableErrorTypes,
				},
			}}})
		failure := m.failure(err)
		// A retried activity's started event repeats the previous
		// attempt's failure, whose details held the log so far.
		var last *failurepb.Failure
		if tries > 1 {
			last = failure
			if err == nil {
				last = m.fc.ErrorToFailure(temporal.NewApplicationError("attempt failed", "WebhookAttemptFailed", out.Attempts[:max(len(out.Attempts)-1, 0)]))
			}
		}
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, Attributes: &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{
				ScheduledEventId: 1 << 20, Identity: "worker@host", RequestId: uuid.NewString(), Attempt: max(tries, 1),
				LastFailure: last,
			}}})
		if err != nil {
			m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, Attributes: &historypb.HistoryEvent_ActivityTaskFailedEventAttributes{
				ActivityTaskFailedEventAttributes: &historypb.ActivityTaskFailedEventAttributes{
					Failure: failure, ScheduledEventId: 1 << 20, StartedEventId: 1 << 20, Identity: "worker@host",
					RetryState: enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE,
				}}})
		} else {
			m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
				ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
					Result: m.payloads(out), ScheduledEventId: 1 << 20, StartedEventId: 1 << 20, Identity: "worker@host",
				}}})
		}
		m.workflowTask()
	})
	env.SetOnTimerScheduledListener(func(timerID string, d time.Duration) {
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_TIMER_STARTED, Attributes: &historypb.HistoryEvent_TimerStartedEventAttributes{
			TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{TimerId: timerID, StartToFireTimeout: durationpb.New(d), WorkflowTaskCompletedEventId: 1 << 20},
		}})
	})
	env.SetOnTimerFiredListener(func(timerID string) {
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_TIMER_FIRED, Attributes: &historypb.HistoryEvent_TimerFiredEventAttributes{
			TimerFiredEventAttributes: &historypb.TimerFiredEventAttributes{TimerId: timerID, StartedEventId: 1 << 20},
		}})
		m.workflowTask()
	})
	env.SetOnLocalActivityCompletedListener(func(info *activity.Info, result converter.EncodedValue, err error) {
		var out activities.FirstResult
		if err == nil {
			if derr := result.Get(&out); derr != nil {
				t.Errorf("meter: decode local result: %v", derr)
			}
		}
		details := map[string]*commonpb.Payloads{
			"data":   m.payloads(map[string]any{"ActivityID": info.ActivityID, "ActivityType": info.ActivityType.Name, "ReplayTime": time.Now(), "Attempt": 1, "Backoff": 0}),
			"result": m.payloads(out),
		}
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_MARKER_RECORDED, Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{
			MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: "LocalActivity", Details: details, WorkflowTaskCompletedEventId: 1 << 20, Failure: m.failure(err)},
		}})
		m.workflowTask()
	})
	return m
}

// finish adds the run's closing events: the version markers the run
// recorded (each with its search attribute), the outcome's search
// attributes, and the continue-as-new or completion.
func (m *historyMeter) finish(canInput *commonpb.Payloads, result any) {
	var changes []string
	if m.scheduled {
		changes = append(changes, versionFairnessFIFO+"-2")
	}
	if canInput != nil {
		changes = append(changes, versionContinueAsNew+"-1")
	}
	for i, c := range changes {
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_MARKER_RECORDED, Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{
			MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: "Version", WorkflowTaskCompletedEventId: 1 << 20, Details: map[string]*commonpb.Payloads{
				"change-id": m.payloads(c), "version": m.payloads(1)}},
		}})
		m.upsert(map[string]any{"TemporalChangeVersion": changes[:i+1]})
	}
	if canInput != nil {
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, Attributes: &historypb.HistoryEvent_WorkflowExecutionContinuedAsNewEventAttributes{
			WorkflowExecutionContinuedAsNewEventAttributes: &historypb.WorkflowExecutionContinuedAsNewEventAttributes{
				NewExecutionRunId: uuid.NewString(), WorkflowType: &commonpb.WorkflowType{Name: EventWorkflowName},
				TaskQueue: &taskqueuepb.TaskQueue{Name: TaskQueue}, Input: canInput, WorkflowTaskTimeout: durationpb.New(10 * time.Second),
				WorkflowTaskCompletedEventId: 1 << 20, WorkflowRunTimeout: durationpb.New(0),
				Header: &commonpb.Header{Fields: map[string]*commonpb.Payload{}}, SearchAttributes: m.searchAttributes(m.eventAttributes()),
			}}})
		return
	}
	// Every attribute, as when the starter set none (the publisher sets
	// all but the status).
	m.upsert(m.eventAttributes())
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, Attributes: &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
		WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: m.payloads(result), WorkflowTaskCompletedEventId: 1 << 20},
	}})
}

func (m *historyMeter) upsert(attrs map[string]any) {
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, Attributes: &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{
		UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
			WorkflowTaskCompletedEventId: 1 << 20, SearchAttributes: m.searchAttributes(attrs),
		}}})
}

func (m *historyMeter) searchAttributes(attrs map[string]any) *commonpb.SearchAttributes {
	fields := map[string]*commonpb.Payload{}
	for k, v := range attrs {
		p, err := m.dc.ToPayload(v)
		if err != nil {
			m.t.Errorf("meter: encode %s: %v", k, err)
		}
		p.Metadata["type"] = []byte("KeywordList")
		fields[k] = p
	}
	return &commonpb.SearchAttributes{IndexedFields: fields}
}

// eventAttributes are the event's search attributes, every one set (as by
// the publisher at start, and carried by continue-as-new).
func (m *historyMeter) eventAttributes() map[string]any {
	ids := m.in.TargetIDs()
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = WebhookKey(id)
	}
	return map[string]any{SearchStatus.GetName(): StatusDelivered, SearchWorkspace.GetName(): m.in.Event.Workspace,
		SearchWebhookIDs.GetName(): ids, SearchEventType.GetName(): string(m.in.Event.Type), SearchWebhookKeys.GetName(): keys}
}

func (m *historyMeter) workflowTask() {
	now := timestamppb.New(time.Now())
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, Attributes: &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{
		WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{TaskQueue: &taskqueuepb.TaskQueue{Name: "worker@host-sticky-" + uuid.NewString(), Kind: enumspb.TASK_QUEUE_KIND_STICKY, NormalName: TaskQueue}, StartToCloseTimeout: durationpb.New(10 * time.Second), Attempt: 1},
	}})
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, Attributes: &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{
		WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{ScheduledEventId: 1 << 20, Identity: "worker@host", RequestId: uuid.NewString(), HistorySizeBytes: 1 << 24},
	}})
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventTime: now, Attributes: &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
		WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{ScheduledEventId: 1 << 20, StartedEventId: 1 << 20, Identity: "worker@host"},
	}})
}

func (m *historyMeter) add(e *historypb.HistoryEvent) {
	e.EventId, e.Version, e.TaskId = 1<<20, 1, 1<<30
	if e.EventTime == nil {
		e.EventTime = timestamppb.New(time.Now())
	}
	n := proto.Size(e)
	m.mu.Lock()
	m.events++
	m.bytes += n
	m.mu.Unlock()
}

func (m *historyMeter) payloads(v any) *commonpb.Payloads {
	p, err := m.dc.ToPayloads(v)
	if err != nil {
		m.t.Errorf("meter: encode %T: %v", v, err)
	}
	return p
}

// failure is the failure the server records for an activity error: its
// cause (the application or timeout failure), as the worker reports it.
func (m *historyMeter) failure(err error) *failurepb.Failure {
	if err == nil {
		return nil
	}
	var actErr *temporal.ActivityError
	if errors.As(err, &actErr) && errors.Unwrap(actErr) != nil {
		err = errors.Unwrap(actErr)
	}
	return m.fc.ErrorToFailure(err)
}

func (m *historyMeter) figures() (events, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events, m.bytes
}

// The meter is an upper estimate of a real server's history: for the
// scenarios recorded against a dev server (see internal/recordhistory), it
// counts at least the recorded events and bytes, and not grossly more.
func TestHistoryMeterAgainstRecordedHistories(t *testing.T) {
	t.Run("retries", func(t *testing.T) {
		// One target answers 500, 500, 200; another 404.
		meterAgainst(t, "event_retries_v2.json", func(t *testing.T, in *EventInput) (*activities.Activities, func(*testsuite.TestWorkflowEnvironment)) {
			flaky := newScripted(t, 500, 500, 200)
			gone := newScripted(t, 404)
			in.Targets[0].URL, in.Targets[1].URL = flaky.srv.URL, gone.srv.URL
			return &activities.Activities{Client: tlsClient(t, flaky.srv)}, nil
		})
	})
	t.Run("continues as new", func(t *testing.T) {
		// The limiter is unreachable; the server suggests continue-as-new.
		meterAgainst(t, "event_continued_run1.json", func(t *testing.T, in *EventInput) (*activities.Activities, func(*testsuite.TestWorkflowEnvironment)) {
			rc := newScripted(t, 200)
			in.Targets[0].URL = rc.srv.URL
			lim := &outageLimiter{from: time.Time{}, until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), now: time.Now}
			return &activities.Activities{Client: tlsClient(t, rc.srv), Limiter: lim}, func(env *testsuite.TestWorkflowEnvironment) {
				env.SetContinueAsNewSuggested(true)
			}
		})
	})
}

func meterAgainst(t *testing.T, file string, setup func(*testing.T, *EventInput) (*activities.Activities, func(*testsuite.TestWorkflowEnvironment))) {
	f, err := os.Open("../testdata/replay/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	realBytes := 0
	for _, e := range h.GetEvents() {
		realBytes += proto.Size(e)
	}
	var in EventInput
	start := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	if err := converter.GetDefaultDataConverter().FromPayloads(start.GetInput(), &in); err != nil {
		t.Fatal(err)
	}
	acts, configure := setup(t, &in)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// Slow shared machines stall a workflow task past the 1 s default.
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	acts.Workflows = envQuerier{env}
	env.RegisterActivity(acts)
	if configure != nil {
		configure(env)
	}
	m := newHistoryMeter(t, env, in)
	env.ExecuteWorkflow(EventWorkflowName, in)
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); errors.As(err, &can) {
		m.finish(can.Input, nil)
	} else if err != nil {
		t.Fatal(err)
	} else {
		var res EventResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		m.finish(nil, res)
	}
	events, bytes := m.figures()
	t.Logf("%s: recorded %d events, %d bytes; meter %d events, %d bytes", file, len(h.GetEvents()), realBytes, events, bytes)
	if events < len(h.GetEvents()) || bytes < realBytes {
		t.Errorf("meter: got %d events, %d bytes, want at least the recorded %d events, %d bytes", events, bytes, len(h.GetEvents()), realBytes)
	}
	if events > 2*len(h.GetEvents()) || bytes > 2*realBytes {
		t.Errorf("meter: got %d events, %d bytes, want at most twice the recorded %d events, %d bytes", events, bytes, len(h.GetEvents()), realBytes)
	}
}
