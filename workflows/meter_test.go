package workflows

import (
	"context"
	"errors"
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
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
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
}

func newHistoryMeter(t *testing.T, env *testsuite.TestWorkflowEnvironment, in EventInput) *historyMeter {
	m := &historyMeter{t: t, dc: converter.GetDefaultDataConverter(), fc: temporal.GetDefaultFailureConverter(), inputs: map[string]*commonpb.Payloads{}}
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
		WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
			WorkflowType:           &commonpb.WorkflowType{Name: EventWorkflowName},
			TaskQueue:              &taskqueuepb.TaskQueue{Name: TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			Input:                  m.payloads(in),
			WorkflowTaskTimeout:    durationpb.New(10 * time.Second),
			OriginalExecutionRunId: uuid.NewString(), FirstExecutionRunId: uuid.NewString(),
			Identity: "worker@host", Attempt: 1, FirstWorkflowTaskBackoff: durationpb.New(0),
		}}})
	m.workflowTask()
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
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
		delete(m.inputs, info.ActivityID)
		m.mu.Unlock()
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
		var failure = m.failure(err)
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, Attributes: &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{
				ScheduledEventId: 1 << 20, Identity: "worker@host", RequestId: uuid.NewString(), Attempt: info.Attempt,
				LastFailure: m.lastFailure(info, failure),
			}}})
		if err != nil {
			m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, Attributes: &historypb.HistoryEvent_ActivityTaskFailedEventAttributes{
				ActivityTaskFailedEventAttributes: &historypb.ActivityTaskFailedEventAttributes{
					Failure: failure, ScheduledEventId: 1 << 20, StartedEventId: 1 << 20, Identity: "worker@host",
					RetryState: enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE,
				}}})
		} else {
			var out activities.DeliverResult
			if derr := result.Get(&out); derr != nil {
				t.Errorf("meter: decode result: %v", derr)
			}
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

// finish adds the run's closing events: the version marker and its search
// attribute when the run parked, and the continue-as-new or completion.
func (m *historyMeter) finish(canInput *commonpb.Payloads, result any) {
	if canInput != nil {
		for range 2 {
			m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_MARKER_RECORDED, Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{
				MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: "Version", Details: map[string]*commonpb.Payloads{
					"change-id": m.payloads(versionContinueAsNew), "version": m.payloads(1)}},
			}})
		}
		m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, Attributes: &historypb.HistoryEvent_WorkflowExecutionContinuedAsNewEventAttributes{
			WorkflowExecutionContinuedAsNewEventAttributes: &historypb.WorkflowExecutionContinuedAsNewEventAttributes{
				NewExecutionRunId: uuid.NewString(), WorkflowType: &commonpb.WorkflowType{Name: EventWorkflowName},
				TaskQueue: &taskqueuepb.TaskQueue{Name: TaskQueue}, Input: canInput, WorkflowTaskTimeout: durationpb.New(10 * time.Second),
			}}})
		return
	}
	m.add(&historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, Attributes: &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
		WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: m.payloads(result)},
	}})
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

// lastFailure is the failure a retried activity's started event repeats.
func (m *historyMeter) lastFailure(info *activity.Info, f *failurepb.Failure) *failurepb.Failure {
	if info.Attempt > 1 {
		return f
	}
	return nil
}

func (m *historyMeter) figures() (events, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events, m.bytes
}
