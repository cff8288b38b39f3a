package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/workflows"
)

// ErrUnrecoverable means an ended registry could not be brought back
// automatically; the error says what an operator can do.
var ErrUnrecoverable = errors.New("registry cannot be recovered")

// stateQueryTimeout bounds the query that reads an ended run's state.
const stateQueryTimeout = 20 * time.Second

// Recovery reports what Recover did.
type Recovery struct {
	Workspace string `json:"workspace"`
	// Recovered is false when the registry was running (nothing to do).
	Recovered bool `json:"recovered"`
	// EndedRunID and EndedStatus describe the run it was recovered from.
	EndedRunID  string `json:"ended_run_id,omitempty"`
	EndedStatus string `json:"ended_status,omitempty"`
	RunID       string `json:"run_id,omitempty"`
	Webhooks    int    `json:"webhooks"`
	TestResults int    `json:"test_results"`
	// FromInput: the state is the ended run's start input, and the writes
	// the run accepted after it were sent again, in order: Reapplied lists
	// those the new run took, LostWrites those it did not (with why).
	FromInput  bool     `json:"from_input,omitempty"`
	Reapplied  []string `json:"reapplied,omitempty"`
	LostWrites []string `json:"lost_writes,omitempty"`
}

// RetireReason is the termination reason with which Retire ends a
// registry on purpose: automatic recovery (a read, a write, the worker's
// sweep, recover --all) leaves such a registry ended. Only an explicit
// Recover of its workspace brings it back.
const RetireReason = "hari: registry retired by an operator"

// ErrRetired means a registry was ended on purpose (retired, canceled or
// completed) and is not recovered automatically.
var ErrRetired = errors.New("registry ended on purpose")

// Retire ends the workspace's registry on purpose: it terminates the run
// with RetireReason, the tombstone automatic recovery respects. It returns
// the ended run's ID. A registry that is not running is ErrNotFound.
func (r *Client) Retire(ctx context.Context, ws string) (string, error) {
	if err := ValidateWorkspace(ws); err != nil {
		return "", err
	}
	runID, _, ended, err := r.endedRun(ctx, ws)
	if err != nil {
		return "", err
	}
	if ended {
		return "", fmt.Errorf("%w: retire: the registry of workspace %s is not running (run %s has ended)", ErrNotFound, ws, runID)
	}
	if err := r.c.TerminateWorkflow(ctx, workflows.RegistryWorkflowID(ws), runID, RetireReason); err != nil {
		return "", translate(err, "retire registry")
	}
	return runID, nil
}

// endedOnPurpose reports why an ended run must not be recovered
// automatically: retired (terminated with RetireReason), canceled (only a
// client asks for that) or completed. "" means it ended by accident
// (failed, timed out, terminated by the server or by hand otherwise).
func (r *Client) endedOnPurpose(ctx context.Context, ws, runID string, status enumspb.WorkflowExecutionStatus) (string, error) {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "it was " + strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_")), nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
	default:
		return "", nil
	}
	it := r.c.GetWorkflowHistory(ctx, workflows.RegistryWorkflowID(ws), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", fmt.Errorf("read how run %s of the registry of workspace %s ended: %w", runID, ws, err)
		}
		if t := ev.GetWorkflowExecutionTerminatedEventAttributes(); t != nil && t.GetReason() == RetireReason {
			return "it was retired by an operator", nil
		}
	}
	return "", nil
}

// RecoverOptions choose how Recover finds the state.
type RecoverOptions struct {
	// Automatic is set by every recovery nobody asked for by name (a read,
	// a write, the sweep, recover --all): a registry ended on purpose
	// (retired, canceled, completed) is then left ended, with ErrRetired.
	Automatic bool
	// FromInput restores the ended run's start input instead of querying
	// the run, then sends the writes that run accepted again, in order:
	// for a run whose history this worker cannot replay. Test fires are
	// not repeated (their results are lost); each write the new run
	// refuses is listed.
	FromInput bool
}

// endedRun returns the latest run of the workspace's registry when it has
// ended (terminated, failed, timed out, canceled or completed); ok is false
// while it runs. No registry at all is ErrNotFound.
func (r *Client) endedRun(ctx context.Context, ws string) (runID string, status enumspb.WorkflowExecutionStatus, ok bool, err error) {
	d, err := r.c.DescribeWorkflowExecution(ctx, workflows.RegistryWorkflowID(ws), "")
	if err != nil {
		return "", 0, false, translate(err, "describe registry")
	}
	info := d.GetWorkflowExecutionInfo()
	status = info.GetStatus()
	return info.GetExecution().GetRunId(), status, status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// Recover brings back a workspace registry that has ended (terminated by
// hand or by the server, failed, timed out): it reads the ended run's whole
// state with a query (Temporal answers queries on closed runs by replaying
// them on a worker), trims it to the registry's bounds and starts a new
// run with it under the same workflow ID. A running registry is left
// alone. Two callers racing both succeed; only one run is started.
func (r *Client) Recover(ctx context.Context, ws string, opts RecoverOptions) (Recovery, error) {
	rec := Recovery{Workspace: ws}
	if err := ValidateWorkspace(ws); err != nil {
		return rec, err
	}
	runID, status, ended, err := r.endedRun(ctx, ws)
	if err != nil || !ended {
		if err == nil {
			rec.RunID = runID
		}
		return rec, err
	}
	rec.EndedRunID, rec.EndedStatus = runID, status.String()
	if opts.Automatic {
		why, err := r.endedOnPurpose(ctx, ws, runID, status)
		if err != nil {
			return rec, err
		}
		if why != "" {
			return rec, fmt.Errorf("%w: the registry of workspace %s is not brought back automatically: %s (run %s); `starter webhooks recover --workspace %s` brings it back",
				ErrRetired, ws, why, runID, ws)
		}
	}

	var state workflows.RegistryState
	var writes []acceptedWrite
	if opts.FromInput {
		state, writes, err = r.startInput(ctx, ws, runID)
		rec.FromInput = true
	} else {
		// A run that cannot be replayed may leave the query waiting.
		qctx, cancel := context.WithTimeout(ctx, stateQueryTimeout)
		err = r.queryRun(qctx, ws, runID, workflows.QueryState, &state)
		timedOut := errors.Is(qctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err != nil && ctx.Err() != nil {
			// The caller's own deadline cut the query short: nothing is
			// known about the run, least of all that it cannot be replayed.
			return rec, fmt.Errorf("recover registry of workspace %s: the state query of its ended run %s was cut short: %w", ws, runID, ctx.Err())
		}
		if err != nil && timedOut {
			return rec, fmt.Errorf("recover registry of workspace %s: its ended run %s did not answer the state query within %s: is a worker polling task queue %s? (%w)",
				ws, runID, stateQueryTimeout, r.opts.TaskQueue, err)
		}
		if err != nil {
			err = fmt.Errorf("%w: workspace %s: its ended run %s (%s) did not answer the state query, so its history cannot be replayed by this worker (%v); "+
				"deploy code that replays it (see \"Changing workflow code safely\" in the README) and retry, or restore the run's start state with "+
				"`starter webhooks recover --workspace %s --from-input`, which sends the writes of that run again (test results are lost)", ErrUnrecoverable, ws, runID, rec.EndedStatus, err, ws)
		}
	}
	if err != nil {
		return rec, err
	}
	if state.Tests == nil {
		state.Tests = map[string]workflows.TestResult{}
	}
	// A state still above the registry's own limit (only with webhooks
	// stored before the bounds) may yet be under Temporal's 2 MiB: try.
	_, tooLarge := workflows.BoundState(&state)
	rec.Webhooks, rec.TestResults = len(state.Webhooks), len(state.Tests)

	policy := enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		policy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	run, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.RegistryWorkflowID(ws),
		TaskQueue:                r.opts.TaskQueue,
		WorkflowIDReusePolicy:    policy,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		Memo:                     map[string]any{"recovered_from": runID},
		Priority:                 temporal.Priority{FairnessKey: workflows.FairnessKey(ws)},
	}, workflows.RegistryWorkflowName, workflows.RegistryInput{Workspace: ws, State: &state})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		// Another caller recovered it first.
		rec.RunID = started.RunId
		return rec, nil
	case err != nil && tooLarge != nil:
		return rec, fmt.Errorf("%w: workspace %s: %v; start: %w", ErrUnrecoverable, ws, tooLarge, err)
	case err != nil:
		return rec, fmt.Errorf("recover registry of workspace %s: start: %w", ws, err)
	}
	rec.Recovered, rec.RunID = true, run.GetRunID()
	for _, w := range writes {
		if err := r.reapply(ctx, ws, w); err != nil {
			rec.LostWrites = append(rec.LostWrites, w.String()+": "+err.Error())
			continue
		}
		rec.Reapplied = append(rec.Reapplied, w.String())
	}
	return rec, nil
}

// acceptedWrite is an update an ended run accepted: its name and argument.
type acceptedWrite struct {
	name      string
	webhookID string
	arg       *commonpb.Payload
}

func (w acceptedWrite) String() string { return w.name + " " + w.webhookID }

// reapply sends an accepted write again to the running registry.
func (r *Client) reapply(ctx context.Context, ws string, w acceptedWrite) error {
	var arg any
	switch w.name {
	case workflows.UpdateCreate, workflows.UpdateUpdate:
		arg = &workflows.WriteRequest{}
	case workflows.UpdateSetActive:
		arg = &workflows.SetActiveRequest{}
	case workflows.UpdateDelete, workflows.UpdateDismissTest:
		arg = &workflows.IDRequest{}
	case workflows.UpdateReseal:
		arg = &workflows.ResealRequest{}
	case workflows.UpdateTestFire:
		return errors.New("not repeated: a test fire sends a request; its result is lost")
	default:
		return fmt.Errorf("unknown update %q", w.name)
	}
	if err := r.dataConverter().FromPayload(w.arg, arg); err != nil {
		return fmt.Errorf("decode its argument: %w", err)
	}
	return r.update(ctx, ws, w.name, arg, nil)
}

func (r *Client) dataConverter() converter.DataConverter {
	if r.opts.DataConverter != nil {
		return r.opts.DataConverter
	}
	return converter.GetDefaultDataConverter()
}

// recoverIfEnded recovers the registry when (and only when) it has ended;
// it reports whether the caller should try again.
func (r *Client) recoverIfEnded(ctx context.Context, ws string) (bool, error) {
	_, _, ended, err := r.endedRun(ctx, ws)
	if err != nil || !ended {
		return false, nil
	}
	if _, err := r.Recover(ctx, ws, RecoverOptions{Automatic: true}); err != nil {
		return false, err
	}
	return true, nil
}

// startInput decodes the ended run's start input and collects the writes
// (updates) the run accepted after it, in order.
func (r *Client) startInput(ctx context.Context, ws, runID string) (workflows.RegistryState, []acceptedWrite, error) {
	var state workflows.RegistryState
	var writes []acceptedWrite
	dc := r.dataConverter()
	it := r.c.GetWorkflowHistory(ctx, workflows.RegistryWorkflowID(ws), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first := true
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return state, nil, fmt.Errorf("read the history of run %s: %w", runID, err)
		}
		if first {
			first = false
			attrs := ev.GetWorkflowExecutionStartedEventAttributes()
			if attrs == nil {
				return state, nil, fmt.Errorf("run %s: the first history event is %s, not the start", runID, ev.GetEventType())
			}
			var in workflows.RegistryInput
			if err := dc.FromPayloads(attrs.GetInput(), &in); err != nil {
				return state, nil, fmt.Errorf("run %s: decode its start input: %w", runID, err)
			}
			if in.State != nil {
				state = *in.State
			}
			continue
		}
		acc := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes()
		if acc == nil {
			continue
		}
		in := acc.GetAcceptedRequest().GetInput()
		w := acceptedWrite{name: in.GetName()}
		if args := in.GetArgs().GetPayloads(); len(args) > 0 {
			w.arg = args[0]
			var named struct {
				ID string `json:"id"`
			}
			_ = dc.FromPayload(w.arg, &named)
			w.webhookID = named.ID
		}
		writes = append(writes, w)
	}
	return state, writes, nil
}

// queryRun queries one run (a closed one too).
func (r *Client) queryRun(ctx context.Context, ws, runID, name string, result any, args ...any) error {
	v, err := r.c.QueryWorkflow(ctx, workflows.RegistryWorkflowID(ws), runID, name, args...)
	if err != nil {
		return err
	}
	return v.Get(result)
}

// RecoverAll recovers every registry on this client's task queue whose
// latest run has ended by accident (failed, timed out, terminated other
// than by Retire), found through the namespace's visibility store (where
// closed runs stay for the namespace's retention period: sweep more often
// than that). Registries ended on purpose are left ended. It goes on past
// failures and returns them joined.
func (r *Client) RecoverAll(ctx context.Context) ([]Recovery, error) {
	query := fmt.Sprintf("WorkflowType = '%s' AND TaskQueue = '%s' AND (ExecutionStatus = 'Terminated' OR ExecutionStatus = 'Failed' OR ExecutionStatus = 'TimedOut')",
		workflows.RegistryWorkflowName, strings.ReplaceAll(r.opts.TaskQueue, "'", ""))
	seen := map[string]bool{}
	var spaces []string
	var token []byte
	for {
		resp, err := r.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list ended registries: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if ws, ok := workflows.RegistryWorkspace(e.GetExecution().GetWorkflowId()); ok && !seen[ws] {
				seen[ws] = true
				spaces = append(spaces, ws)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.Sort(spaces)
	var out []Recovery
	var errs []error
	for _, ws := range spaces {
		rec, err := r.Recover(ctx, ws, RecoverOptions{Automatic: true})
		if errors.Is(err, ErrRetired) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.Recovered {
			out = append(out, rec)
		}
	}
	return out, errors.Join(errs...)
}
