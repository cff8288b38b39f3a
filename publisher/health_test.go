package publisher

import (
	"context"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// healthClient answers Health's visibility calls for webhook wh_a with
// finished events, newest closed first, each one failed.
type healthClient struct {
	client.Client
	t      *testing.T
	events []*workflowpb.WorkflowExecutionInfo
}

func (c *healthClient) CountWorkflow(context.Context, *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	return &workflowservice.CountWorkflowExecutionsResponse{}, nil
}

func (c *healthClient) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	if r.GetPageSize() == maxPartialReads {
		return &workflowservice.ListWorkflowExecutionsResponse{}, nil // no partial event
	}
	if len(r.GetNextPageToken()) > 0 {
		c.t.Error("the scan read the next page, want it stopped at the event closed before the re-enable")
		return &workflowservice.ListWorkflowExecutionsResponse{}, nil
	}
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: c.events, NextPageToken: []byte("more")}, nil
}

type failedRun struct{ client.WorkflowRun }

func (failedRun) Get(_ context.Context, v any) error {
	*(v.(*workflows.EventResult)) = workflows.EventResult{Deliveries: []workflows.DeliveryResult{{WebhookID: "wh_a", URL: "https://erp.example.com:8443/hooks", Status: workflows.StatusFailed, Error: "HTTP 503", Attempts: []delivery.Attempt{{Number: 1, StatusCode: 503, Error: "HTTP 503"}}}}}
	return nil
}

func (c *healthClient) GetWorkflow(context.Context, string, string) client.WorkflowRun {
	return failedRun{}
}

// enabledAt is a registry whose webhook was re-enabled at a time.
type enabledAt time.Time

func (e enabledAt) Target(context.Context, string, string) (endpoint.Routed, error) {
	return endpoint.Routed{}, nil
}

func (e enabledAt) Get(context.Context, string, string) (webhook.View, error) {
	at := time.Time(e)
	return webhook.View{State: webhook.StateActive, EnabledAt: &at}, nil
}

// An event started before the webhook's re-enable that closed after
// events started since (visibility lists by close time) does not end the
// streak: the failures started after the re-enable are all counted, and
// the scan stops at the first event closed before it.
func TestHealthStreakPassesOverAnEventStartedBeforeReenable(t *testing.T) {
	from := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	ev := func(id string, start, close time.Duration) *workflowpb.WorkflowExecutionInfo {
		return &workflowpb.WorkflowExecutionInfo{
			Execution:        &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID("acme", id)},
			StartTime:        timestamppb.New(from.Add(start)),
			CloseTime:        timestamppb.New(from.Add(close)),
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{workflows.SearchStatus.GetName(): payload(t, workflows.StatusFailed)}},
		}
	}
	c := &healthClient{t: t, events: []*workflowpb.WorkflowExecutionInfo{
		ev("long", -time.Minute, 5*time.Second), // retried across the re-enable
		ev("e3", 3*time.Second, 4*time.Second),
		ev("e1", time.Second, 2*time.Second),
		ev("old", -2*time.Hour, -time.Hour), // closed before: the end
		ev("older", -3*time.Hour, -2*time.Hour),
	}}
	p := New(c, Options{TaskQueue: "hari", Targets: enabledAt(from)})
	h, err := p.Health(context.Background(), "acme", "wh_a")
	if err != nil {
		t.Fatal(err)
	}
	if h.ConsecutiveFailures != 2 || h.FailingSince == nil || !h.FailingSince.Equal(from.Add(time.Second)) {
		t.Errorf("streak: got %d since %v, want 2 since %v (e1 and e3; not the event started before the re-enable)", h.ConsecutiveFailures, h.FailingSince, from.Add(time.Second))
	}
	if h.LastError != "HTTP 503" {
		t.Errorf("last error: got %q, want %q", h.LastError, "HTTP 503")
	}
	if want := "erp.example.com answered HTTP 503 Service Unavailable."; h.LastHelp == nil || !strings.HasPrefix(h.LastHelp.Problem, want) || h.LastHelp.Next == "" {
		t.Errorf("last help: got %+v, want a problem starting %q and a next step", h.LastHelp, want)
	}
}
