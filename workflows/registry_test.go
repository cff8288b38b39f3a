package workflows

import (
	"encoding/json"
	"errors"
	"go.temporal.io/sdk/converter"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/condition"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/webhook"
)

type updateResult struct {
	err error
	val webhook.View
}

func (u *updateResult) Accept()          {}
func (u *updateResult) Reject(err error) { u.err = err }
func (u *updateResult) Complete(v any, err error) {
	u.err = err
	if v != nil {
		u.val = v.(webhook.View)
	}
}

func config(name string) webhook.Config {
	return webhook.Config{
		Name: name, Entity: "opportunity", Events: []event.Type{event.StageChanged},
		Conditions: []condition.Condition{{Field: "stage", Op: condition.ChangedTo, Value: json.RawMessage(`"Closed Won"`)}},
		URL:        "https://hooks.example.com/" + name, Fields: []string{"name"},
	}
}

// The validators reject bad writes without changing state; accepted
// writes show in queries and routing; the registry continues as new with
// its state when its history grows.
func TestRegistryValidatesRoutesAndContinuesAsNew(t *testing.T) {
	old := registryWriteLimit
	registryWriteLimit = 20
	defer func() { registryWriteLimit = old }()

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	env.RegisterActivity(&activities.Activities{})

	results := map[string]*updateResult{}
	send := func(at time.Duration, key, name string, arg any) {
		results[key] = &updateResult{}
		env.RegisterDelayedCallback(func() { env.UpdateWorkflow(name, key, results[key], arg) }, at)
	}
	send(1*time.Second, "create-a", UpdateCreate, WriteRequest{ID: "wh_a", Config: config("A"), Secret: &SealedSecret{Sealed: "sealed:v3:k:abc", Hint: "********abcd"}})
	send(2*time.Second, "dup-name", UpdateCreate, WriteRequest{ID: "wh_b", Config: config("a")})
	plain := config("B")
	plain.URL = "http://hooks.example.com/b"
	send(3*time.Second, "http-url", UpdateCreate, WriteRequest{ID: "wh_b", Config: plain})
	send(4*time.Second, "plaintext-secret", UpdateCreate, WriteRequest{ID: "wh_b", Config: config("B"), Secret: &SealedSecret{Sealed: "whsec_plain"}})
	send(5*time.Second, "missing", UpdateSetActive, SetActiveRequest{ID: "wh_nope"})
	send(6*time.Second, "create-b", UpdateCreate, WriteRequest{ID: "wh_b", Config: config("B")})
	send(7*time.Second, "deactivate-b", UpdateSetActive, SetActiveRequest{ID: "wh_b", Active: false})

	var routes []string
	var listed []webhook.View
	env.RegisterDelayedCallback(func() {
		ev := event.Event{Type: event.StageChanged, Entity: "opportunity", Record: event.Values(map[string]any{"id": "o"}),
			Changes: map[string]event.Change{"stage": event.ChangeOf("x", "Closed Won")}}
		v, err := env.QueryWorkflow(QueryRoutes, ev)
		if err != nil {
			t.Fatal(err)
		}
		var ts []struct {
			ID           string `json:"id"`
			SealedSecret string `json:"sealed_secret"`
		}
		if err := v.Get(&ts); err != nil {
			t.Errorf("decode routes: %v", err)
		}
		for _, x := range ts {
			routes = append(routes, x.ID+"|"+x.SealedSecret)
		}
		v, _ = env.QueryWorkflow(QueryList)
		_ = v.Get(&listed)
	}, 8*time.Second)
	// Enough writes to pass the history limit.
	for i := 0; i < 30; i++ {
		send(time.Duration(9+i)*time.Second, "toggle"+string(rune('a'+i%26))+string(rune('0'+i/26)), UpdateSetActive, SetActiveRequest{ID: "wh_a", Active: true})
	}
	env.ExecuteWorkflow(RegistryWorkflowName, RegistryInput{Workspace: "acme"})

	for key, want := range map[string]string{"dup-name": ErrTypeNameTaken, "http-url": ErrTypeInvalidWebhook, "plaintext-secret": ErrTypeInvalidWebhook, "missing": ErrTypeNotFound} {
		var app *temporal.ApplicationError
		if err := results[key].err; !errors.As(err, &app) || app.Type() != want {
			t.Errorf("%s: got %v, want a %s rejection", key, err, want)
		}
	}
	var app *temporal.ApplicationError
	if errors.As(results["http-url"].err, &app) && !strings.Contains(app.Message(), "https") {
		t.Errorf("http-url rejection %q does not explain itself", app.Message())
	}
	if results["create-a"].err != nil || results["create-b"].err != nil {
		t.Fatalf("valid creates failed: %v %v", results["create-a"].err, results["create-b"].err)
	}
	if len(routes) != 1 || routes[0] != "wh_a|sealed:v3:k:abc" {
		t.Errorf("routes: got %v, want only the active wh_a with its sealed secret", routes)
	}
	if len(listed) != 2 || listed[0].Secret != "********abcd" || !listed[0].HasSecret {
		t.Errorf("list: got %+v", listed)
	}
	raw, _ := json.Marshal(listed)
	if strings.Contains(string(raw), "sealed:") {
		t.Error("the list query exposes the sealed secret")
	}

	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next RegistryInput
	if err := converterFromEnv().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Workspace != "acme" || next.State == nil || len(next.State.Webhooks) != 2 || next.State.Webhooks[0].SealedSecret != "sealed:v3:k:abc" {
		t.Errorf("continue-as-new input: %+v", next)
	}
}

func converterFromEnv() converter.DataConverter { return converter.GetDefaultDataConverter() }
