package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
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

// A disable decided on a streak that began before the webhook's last
// re-enable (health read just before Re-enable) leaves it active; one
// whose streak began after disables it. Each disable's failing since is
// the webhook's recover_since, kept after Re-enable until the next disable.
func TestRegistryDisableRefusesAStreakFromBeforeReenable(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	steps := []struct {
		name      string
		req       any
		wantState string
		wantSince *time.Time
	}{
		{UpdateCreate, WriteRequest{ID: "wh_a", Config: config("A")}, webhook.StateActive, nil},
		{UpdateDisable, DisableRequest{ID: "wh_a", Reason: "3 failed", FailingSince: at(-time.Hour)}, webhook.StateDisabled, at(-time.Hour)},
		// Re-enabled at t0+3s: recover_since stays for the page.
		{UpdateSetActive, SetActiveRequest{ID: "wh_a", Active: true}, webhook.StateActive, at(-time.Hour)},
		// A sweep that read health before the re-enable: refused.
		{UpdateDisable, DisableRequest{ID: "wh_a", Reason: "3 failed (stale)", FailingSince: at(-time.Hour)}, webhook.StateActive, at(-time.Hour)},
		// A new streak, begun after the re-enable: disabled.
		{UpdateDisable, DisableRequest{ID: "wh_a", Reason: "3 failed again", FailingSince: at(4 * time.Second)}, webhook.StateDisabled, at(4 * time.Second)},
	}
	got := make([]*updateResult, len(steps))
	for i, st := range steps {
		got[i] = &updateResult{}
		env.RegisterDelayedCallback(func() { env.UpdateWorkflow(st.name, fmt.Sprint("u", i), got[i], st.req) }, time.Duration(i+1)*time.Second)
	}
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Minute)
	env.ExecuteWorkflow(RegistryWorkflowName, RegistryInput{Workspace: "acme"})
	for i, st := range steps {
		v := got[i].val
		if got[i].err != nil {
			t.Fatalf("step %d (%s): %v", i, st.name, got[i].err)
		}
		if v.State != st.wantState {
			t.Errorf("step %d (%s %+v): got state %q, want %q", i, st.name, st.req, v.State, st.wantState)
		}
		if (v.RecoverSince == nil) != (st.wantSince == nil) || v.RecoverSince != nil && !v.RecoverSince.Equal(*st.wantSince) {
			t.Errorf("step %d (%s): got recover_since %v, want %v", i, st.name, v.RecoverSince, st.wantSince)
		}
	}
	if r := got[4].val.DisabledReason; r != "3 failed again" {
		t.Errorf("reason: got %q, want the new streak's", r)
	}
}
