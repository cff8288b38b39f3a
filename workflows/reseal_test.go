package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/webhook"
)

type resealCallback struct {
	err error
	res ResealResult
}

func (c *resealCallback) Accept()          {}
func (c *resealCallback) Reject(err error) { c.err = err }
func (c *resealCallback) Complete(v any, err error) {
	c.err = err
	if r, ok := v.(ResealResult); ok {
		c.res = r
	}
}

// A reseal swaps sealed values the client computed, refuses entries that
// are stale, not v2, or that would add a secret, then continues as new
// carrying the re-sealed values (so the new run holds nothing under the
// old key).
func TestRegistryResealContinuesAsNewWithTheNewSeals(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	env.RegisterActivity(&activities.Activities{})

	// A registry written before v2 seals (wh_a still v1), as carried over
	// by continue-as-new.
	state := &RegistryState{}
	for _, w := range []struct{ id, name, sealed string }{{"wh_a", "A", "sealed:v1:k1:old-a"}, {"wh_b", "B", ""}, {"wh_c", "C", "sealed:v2:k1:old-c"}} {
		wh := webhook.Webhook{ID: w.id, Workspace: "acme", Active: true, SealedSecret: w.sealed}
		wh.Apply(config(w.name))
		state.Webhooks = append(state.Webhooks, wh)
	}
	// New writes take v3 seals only.
	v1Create := &updateResult{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateCreate, "v1-create", v1Create, WriteRequest{ID: "wh_d", Config: config("D"), Secret: &SealedSecret{Sealed: "sealed:v1:k1:x"}})
	}, time.Second)

	var stored []StoredSecret
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QuerySecrets)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(&stored); err != nil {
			t.Fatal(err)
		}
	}, 2*time.Second)

	results := map[string]*resealCallback{}
	reseal := func(at time.Duration, key string, entries ...ResealEntry) {
		results[key] = &resealCallback{}
		env.RegisterDelayedCallback(func() { env.UpdateWorkflow(UpdateReseal, key, results[key], ResealRequest{Entries: entries}) }, at)
	}
	reseal(3*time.Second, "stale", ResealEntry{ID: "wh_a", OldSealed: "sealed:v1:k1:other", Sealed: "sealed:v3:k2:new-a"})
	reseal(3*time.Second, "not-v2", ResealEntry{ID: "wh_a", OldSealed: "sealed:v1:k1:old-a", Sealed: "sealed:v1:k2:new-a"})
	reseal(3*time.Second, "adds-a-secret", ResealEntry{ID: "wh_b", Sealed: "sealed:v3:k2:new-b"})
	reseal(3*time.Second, "unknown", ResealEntry{ID: "wh_nope", Sealed: "sealed:v3:k2:x"})
	reseal(4*time.Second, "ok",
		ResealEntry{ID: "wh_a", OldSealed: "sealed:v1:k1:old-a", Sealed: "sealed:v3:k2:new-a"},
		ResealEntry{ID: "wh_c", OldSealed: "sealed:v2:k1:old-c", Sealed: "sealed:v3:k2:new-c"})

	env.ExecuteWorkflow(RegistryWorkflowName, RegistryInput{Workspace: "acme", State: state})

	if v1Create.err == nil || !strings.Contains(v1Create.err.Error(), "format v3") {
		t.Errorf("create with a v1 seal: got %v, want a rejection asking for format v3", v1Create.err)
	}
	if len(stored) != 2 || stored[0].ID != "wh_a" || stored[0].Sealed != "sealed:v1:k1:old-a" || stored[1].ID != "wh_c" {
		t.Errorf("secrets query: got %+v, want wh_a and wh_c with their seals", stored)
	}
	for key, want := range map[string]string{"stale": "changed since it was read", "not-v2": "format v3", "adds-a-secret": "cannot add or remove", "unknown": "not found"} {
		var app *temporal.ApplicationError
		if err := results[key].err; !errors.As(err, &app) || !strings.Contains(app.Message(), want) {
			t.Errorf("%s: got %v, want a rejection saying %q", key, err, want)
		}
	}
	if r := results["ok"]; r.err != nil || r.res.Resealed != 2 {
		t.Fatalf("reseal: got %+v, %v; want 2 resealed", r.res, r.err)
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new after the reseal", err)
	}
	var next RegistryInput
	if err := converterFromEnv().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, w := range next.State.Webhooks {
		got[w.ID] = w.SealedSecret
	}
	want := map[string]string{"wh_a": "sealed:v3:k2:new-a", "wh_b": "", "wh_c": "sealed:v3:k2:new-c"}
	for id, s := range want {
		if got[id] != s {
			t.Errorf("continue-as-new state of %s: got %q, want %q", id, got[id], s)
		}
	}
}
