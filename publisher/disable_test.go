package publisher

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// sweepClient is a client.Client answering the visibility calls of
// AutoDisable: webhooks wh_a (health unreadable), wh_b (failing) and
// wh_c (inactive) in workspace acme.
type sweepClient struct {
	client.Client
	sweep  []string // the failed-events queries
	health []string // webhooks whose health was read
	// none lists no failed event; healthy reads wh_a's health too.
	none, healthy bool
	// cut lists the event's webhooks as an event with too many for
	// HariWebhookIDs does: wh_c alone there, wh_c and wh_b in
	// HariWebhookKeys.
	cut bool
}

func payload(t *testing.T, v any) *commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var sweepT *testing.T

func (s *sweepClient) webhookOf(q string) string {
	for _, id := range []string{"wh_a", "wh_b", "wh_c"} {
		if strings.Contains(q, workflows.WebhookKey(id)) {
			return id
		}
	}
	return ""
}

func (s *sweepClient) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	q := r.GetQuery()
	if strings.Contains(q, "TaskQueue =") {
		s.sweep = append(s.sweep, q)
		if s.none {
			return &workflowservice.ListWorkflowExecutionsResponse{}, nil
		}
		if s.cut {
			return &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{{
				Execution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID("acme", "e1")},
				SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
					workflows.SearchWorkspace.GetName():   payload(sweepT, "acme"),
					workflows.SearchWebhookIDs.GetName():  payload(sweepT, []string{"wh_c"}),
					workflows.SearchWebhookKeys.GetName(): payload(sweepT, []string{workflows.WebhookKey("wh_c"), workflows.WebhookKey("wh_b")}),
				}},
			}}}, nil
		}
		return &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{{
			Execution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID("acme", "e1")},
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
				workflows.SearchWorkspace.GetName():  payload(sweepT, "acme"),
				workflows.SearchWebhookIDs.GetName(): payload(sweepT, []string{"wh_a", "wh_b", "wh_c"}),
			}},
		}}}, nil
	}
	if s.webhookOf(q) != "wh_b" || strings.Contains(q, "'"+workflows.StatusPartial+"' AND CloseTime") || strings.Contains(q, "= '"+workflows.StatusPartial+"'") {
		return &workflowservice.ListWorkflowExecutionsResponse{}, nil
	}
	var out []*workflowpb.WorkflowExecutionInfo
	for i := range 3 {
		out = append(out, &workflowpb.WorkflowExecutionInfo{
			Execution:        &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID("acme", "f"+string(rune('1'+i)))},
			StartTime:        timestamppb.New(time.Now().Add(-time.Duration(i+1) * time.Hour)),
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{workflows.SearchStatus.GetName(): payload(sweepT, workflows.StatusFailed)}},
		})
	}
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: out}, nil
}

func (s *sweepClient) CountWorkflow(_ context.Context, r *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	id := s.webhookOf(r.GetQuery())
	s.health = append(s.health, id)
	if id == "wh_a" && !s.healthy {
		return nil, errors.New("visibility timeout")
	}
	return &workflowservice.CountWorkflowExecutionsResponse{}, nil
}

type doneRun struct{ client.WorkflowRun }

func (doneRun) Get(_ context.Context, v any) error {
	*(v.(*workflows.EventResult)) = workflows.EventResult{Deliveries: []workflows.DeliveryResult{{WebhookID: "wh_b", Status: workflows.StatusFailed, Error: "HTTP 503"}}}
	return nil
}

func (s *sweepClient) GetWorkflow(context.Context, string, string) client.WorkflowRun {
	return doneRun{}
}

type fakeDisabler struct{ disabled []string }

func (f *fakeDisabler) Get(_ context.Context, _, id string) (webhook.View, error) {
	if id == "wh_c" {
		return webhook.View{State: webhook.StateInactive}, nil
	}
	return webhook.View{State: webhook.StateActive}, nil
}

func (f *fakeDisabler) Disable(_ context.Context, _, id, reason string, _ time.Time) (webhook.View, error) {
	f.disabled = append(f.disabled, id)
	return webhook.View{State: webhook.StateDisabled, DisabledReason: reason}, nil
}

// One webhook whose health cannot be read does not stop the others from
// being checked; an inactive webhook is not read; a run looks back at most
// MaxDisableWindow however old its since.
func TestAutoDisableGoesOnPastErrorsAndSkipsInactive(t *testing.T) {
	sweepT = t
	c := &sweepClient{}
	p := New(c, Options{TaskQueue: "hari"})
	d := &fakeDisabler{}
	run, err := p.AutoDisable(context.Background(), d, DisableRule{After: 3}, time.Now().Add(-72*time.Hour), Unread{})
	if err != nil {
		t.Fatalf("got error %v, want nil (the listing worked)", err)
	}
	if run.Err == nil || !strings.Contains(run.Err.Error(), "wh_a") {
		t.Errorf("got run error %v, want wh_a's health error reported", run.Err)
	}
	if want := []WebhookRef{{"acme", "wh_a"}}; !slices.Equal(run.Unread.Webhooks, want) {
		t.Errorf("unread webhooks: got %v, want %v", run.Unread.Webhooks, want)
	}
	out := run.Disabled
	if len(out) != 1 || out[0].WebhookID != "wh_b" || len(d.disabled) != 1 {
		t.Errorf("got disabled %+v (calls %v), want wh_b only", out, d.disabled)
	}
	for _, id := range c.health {
		if id == "wh_c" {
			t.Errorf("the inactive webhook wh_c's health was read")
		}
	}
	if len(c.sweep) != 1 {
		t.Fatalf("got %d sweep queries, want 1", len(c.sweep))
	}
	i := strings.Index(c.sweep[0], "CloseTime >= '")
	if i < 0 {
		t.Fatalf("sweep query %q has no CloseTime bound", c.sweep[0])
	}
	rest := c.sweep[0][i+len("CloseTime >= '"):]
	since, err := time.Parse(time.RFC3339Nano, rest[:strings.Index(rest, "'")])
	if err != nil {
		t.Fatal(err)
	}
	if ago := time.Since(since); ago > MaxDisableWindow+time.Minute {
		t.Errorf("the sweep looked back %s, want at most %s", ago, MaxDisableWindow)
	}
}

// An event with more webhooks than HariWebhookIDs holds (it lists the
// first 81 or so) still has its failing webhooks checked: those listed only
// in HariWebhookKeys are read from the event's result.
func TestAutoDisableFindsWebhooksBeyondHariWebhookIDs(t *testing.T) {
	sweepT = t
	c := &sweepClient{cut: true}
	p := New(c, Options{TaskQueue: "hari"})
	d := &fakeDisabler{}
	run, err := p.AutoDisable(context.Background(), d, DisableRule{After: 3}, time.Now().Add(-time.Minute), Unread{})
	if err == nil {
		err = run.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if out := run.Disabled; len(out) != 1 || out[0].WebhookID != "wh_b" {
		t.Errorf("got disabled %+v, want wh_b (listed only in HariWebhookKeys, failed in the result)", out)
	}
}

// A webhook the previous run could not read is read again by the next
// run, though no failed event of the new window names it; nothing is
// left unread then.
func TestAutoDisableReadsAgainWhatThePreviousRunCouldNot(t *testing.T) {
	sweepT = t
	c := &sweepClient{none: true, healthy: true}
	p := New(c, Options{TaskQueue: "hari"})
	run, err := p.AutoDisable(context.Background(), &fakeDisabler{}, DisableRule{After: 3}, time.Now().Add(-time.Minute), Unread{Webhooks: []WebhookRef{{"acme", "wh_a"}}})
	if err != nil || run.Err != nil {
		t.Fatalf("got errors %v, %v, want none", err, run.Err)
	}
	if !slices.Contains(c.health, "wh_a") {
		t.Errorf("health read of %v, want wh_a read again", c.health)
	}
	if len(run.Unread.Webhooks) != 0 || len(run.Unread.Events) != 0 {
		t.Errorf("unread: got %+v, want nothing", run.Unread)
	}
}
