package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/condition"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/webhook"
)

// hostile is text that JSON escaping blows up the most: 6 encoded bytes
// for each input byte (<, >, &, NUL, a byte that is not UTF-8), plus
// quotes and backslashes.
func hostile(n int) string {
	const unit = "<>&\"\\\x00\x01\xff\u2028"
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

func TestCutEncoded(t *testing.T) {
	for _, s := range []string{"", "plain ascii body", hostile(4096), hostile(10000), strings.Repeat("é", 5000), strings.Repeat("€", 3000) + hostile(50), `{"ok":true}`} {
		for _, max := range []int{0, 1, 5, 6, 7, 500, MaxTestBodyBytes} {
			got, cut := cutEncoded(s, max)
			n := encodedString(got)
			switch {
			case n > max:
				t.Errorf("cut(%.20q, %d): got %d encoded bytes, want at most %d", s, max, n, max)
			case !strings.HasPrefix(s, got):
				t.Errorf("cut(%.20q, %d): got %.20q, not a prefix", s, max, got)
			case cut != (got != s):
				t.Errorf("cut(%.20q, %d): reported cut=%v with %d of %d bytes kept", s, max, cut, len(got), len(s))
			case cut:
				// Maximal: one more character would not fit.
				_, w := utf8.DecodeRuneInString(s[len(got):])
				if encodedString(s[:len(got)+w]) <= max {
					t.Errorf("cut(%.20q, %d): kept %d bytes, one more character still fits", s, max, len(got))
				}
			}
		}
	}
}

// maxConfig grows a definition until the validator refuses one more byte:
// a name of 100 '<', a long URL full of '&', 20 conditions whose values
// are '<' up to the whole definition's bound, 100 fields.
func maxConfig(t *testing.T, i int) webhook.Config {
	t.Helper()
	c := webhook.Config{
		Name: fmt.Sprintf("%03d", i) + strings.Repeat("<", webhook.MaxNameRunes-3), Entity: "opportunity",
		Events: []event.Type{event.RecordCreated, event.RecordUpdated, event.RecordDeleted, event.StageChanged, event.StatusChanged, event.AssignmentChanged},
		URL:    "https://hooks.example.com/h?" + strings.Repeat("a=&", 200),
	}
	for f := 0; f < condition.MaxConditions; f++ {
		c.Conditions = append(c.Conditions, condition.Condition{Field: fmt.Sprintf("f%d", f), Op: condition.Equals, Value: json.RawMessage(`""`)})
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("base definition: %v", err)
	}
	for k := 0; ; k = (k + 1) % condition.MaxConditions {
		v := c.Conditions[k].Value
		c.Conditions[k].Value = json.RawMessage(`"<` + string(v[1:]))
		if c.Validate() != nil {
			c.Conditions[k].Value = v
			break
		}
	}
	if n := webhook.EncodedSize(c); n < webhook.MaxDefinitionBytes-6 {
		t.Fatalf("worst-case definition is %d bytes encoded, want close to %d", n, webhook.MaxDefinitionBytes)
	}
	return c
}

// sealedLike is as long as a sealed 256-character secret, with room to spare.
func sealedLike(i int) string { return fmt.Sprintf("sealed:v3:k%03d:", i) + strings.Repeat("A", 500) }

// The worst case the bounds allow: 200 webhooks with definitions at their
// bound, 100-character IDs of '&', rotated 256-character secrets, and 200
// Test fire results full of bytes that escaping blows up. The continue-as-
// new input, as the codec data converter produces it, stays below the
// 2 MiB that Temporal accepts, with the registry's margin.
func TestRegistryWorstCaseStateStaysUnderTheLimit(t *testing.T) {
	defer func(w, h int) { registryWriteLimit, registryHistoryLimit = w, h }(registryWriteLimit, registryHistoryLimit)
	registryWriteLimit, registryHistoryLimit = 6*MaxWebhooks, 1<<30

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	fired := 0
	env.RegisterActivityWithOptions(func(ctx context.Context, in activities.DeliverInput) (delivery.Attempt, error) {
		fired++
		return delivery.Attempt{Number: 1, StatusCode: 500, DurationMS: 15000, Class: delivery.ClassHTTPStatus,
			ResponseBody: hostile(activities.TestBodyKeep), Error: "HTTP 500: " + hostile(4000)}, nil
	}, activity.RegisterOptions{Name: "TestFire"})

	ids := make([]string, MaxWebhooks)
	var rejected []error
	for i := range ids {
		ids[i] = fmt.Sprintf("%03d", i) + strings.Repeat("&", 97)
		cfg := maxConfig(t, i)
		id := ids[i]
		at := time.Duration(i) * time.Second
		env.RegisterDelayedCallback(func() {
			u := &updateResult{}
			env.UpdateWorkflow(UpdateCreate, "c"+id, u, WriteRequest{ID: id, Config: cfg, Secret: &SealedSecret{Sealed: sealedLike(i), Hint: "********abcd"}})
			if u.err != nil {
				rejected = append(rejected, u.err)
			}
		}, at+time.Millisecond)
		env.RegisterDelayedCallback(func() { // rotation: the old secret is kept too
			u := &updateResult{}
			env.UpdateWorkflow(UpdateUpdate, "u"+id, u, WriteRequest{ID: id, Config: cfg, Secret: &SealedSecret{Sealed: sealedLike(1000 + i), Hint: "********wxyz"}})
			if u.err != nil {
				rejected = append(rejected, u.err)
			}
		}, at+2*time.Millisecond)
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateTestFire, "t"+id, &testFireResult{}, IDRequest{ID: id})
		}, at+3*time.Millisecond)
		// Disabled, re-enabled (enabled_at recorded) and disabled again,
		// with the longest reason: every field a webhook can carry. One
		// callback for the three (the test environment holds at most
		// 1,000 pending callbacks).
		env.RegisterDelayedCallback(func() {
			reason := webhook.CutReason("HTTP 500: " + hostile(4000))
			// A streak's start after the re-enable (and the longest
			// time's text), so that the second disable is not refused.
			later := time.Date(2999, 12, 31, 23, 59, 59, 999999999, time.UTC)
			for j, step := range []struct {
				name string
				req  any
			}{
				{UpdateDisable, DisableRequest{ID: id, Reason: reason, FailingSince: &later}},
				{UpdateSetActive, SetActiveRequest{ID: id, Active: true}},
				{UpdateDisable, DisableRequest{ID: id, Reason: reason, FailingSince: &later}},
			} {
				u := &updateResult{}
				env.UpdateWorkflow(step.name, fmt.Sprintf("d%d%s", j, id), u, step.req)
				if u.err != nil {
					rejected = append(rejected, u.err)
				}
			}
		}, at+4*time.Millisecond)
	}
	env.ExecuteWorkflow(RegistryWorkflowName, RegistryInput{Workspace: strings.Repeat("w", 64)})

	if len(rejected) > 0 {
		t.Fatalf("%d worst-case writes rejected, first: %v", len(rejected), rejected[0])
	}
	if fired != MaxWebhooks {
		t.Fatalf("got %d test fires, want %d", fired, MaxWebhooks)
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}

	// Measure the input as the worker sends it: JSON, then the codec.
	spec, err := codec.NewKeySpec("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	var next RegistryInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	encoded, err := codec.DataConverter(keys).ToPayloads(next)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, p := range encoded.Payloads {
		size += p.Size()
	}
	t.Logf("worst-case continue-as-new input: %d bytes encrypted (%d webhooks, %d test results kept, limit %d, Temporal's %d)",
		size, len(next.State.Webhooks), len(next.State.Tests), RegistryStateLimit, 2<<20)
	if want := RegistryStateLimit + 1024; size > want {
		t.Errorf("continue-as-new input: got %d bytes, want at most %d (Temporal refuses above %d)", size, want, 2<<20)
	}
	if len(next.State.Webhooks) != MaxWebhooks {
		t.Errorf("webhooks carried over: got %d, want %d", len(next.State.Webhooks), MaxWebhooks)
	}
	for _, w := range next.State.Webhooks {
		if w.Disabled == nil || webhook.EncodedSize(w.Disabled.Reason) > webhook.MaxDisabledReason || !strings.HasSuffix(w.Disabled.Reason, "...") {
			t.Errorf("webhook %.3s: got disable %+v, want a reason cut to at most %d encoded bytes", w.ID, w.Disabled, webhook.MaxDisabledReason)
			break
		}
		if w.EnabledAt == nil {
			t.Errorf("webhook %.3s: got no enabled_at, want the re-enable's time carried", w.ID)
			break
		}
	}
	// Eviction keeps the newest results: the last webhook's is there, the
	// first one's is gone.
	last, first := ids[len(ids)-1], ids[0]
	if _, ok := next.State.Tests[last]; !ok {
		t.Errorf("the newest test result (%.3s...) was evicted", last)
	}
	if _, ok := next.State.Tests[first]; ok {
		t.Errorf("the oldest test result (%.3s...) was kept although the results pass %d bytes", first, MaxKeptTestBytes)
	}
	for id, r := range next.State.Tests {
		if n := encodedString(r.Body); n > MaxTestBodyBytes || len([]rune(r.Body)) < TestBodyPreview || !r.BodyTruncated {
			t.Errorf("kept test %.3s: body of %d encoded bytes, %d characters, truncated=%v; want at most %d bytes, at least %d characters, truncated",
				id, n, len([]rune(r.Body)), r.BodyTruncated, MaxTestBodyBytes, TestBodyPreview)
		}
	}
	if n := webhook.EncodedSize(next.State.Tests); n > MaxKeptTestBytes {
		t.Errorf("kept test results: got %d bytes, want at most %d", n, MaxKeptTestBytes)
	}
}

type testFireResult struct {
	err error
	val TestResult
}

func (u *testFireResult) Accept()          {}
func (u *testFireResult) Reject(err error) { u.err = err }
func (u *testFireResult) Complete(v any, err error) {
	u.err = err
	if v != nil {
		u.val = v.(TestResult)
	}
}

// A definition within the client's bound but with a sealed secret too
// large to store is refused by the registry itself, naming the field.
func TestRegistryRefusesOversizedStoredWebhook(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	u := &updateResult{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateCreate, "big", u, WriteRequest{ID: "wh_big", Config: config("A"), Secret: &SealedSecret{Sealed: "sealed:v3:" + strings.Repeat("<", 2000)}})
	}, time.Second)
	var listed []webhook.View
	env.RegisterDelayedCallback(func() {
		v, _ := env.QueryWorkflow(QueryList)
		_ = v.Get(&listed)
		env.CancelWorkflow()
	}, 2*time.Second)
	env.ExecuteWorkflow(RegistryWorkflowName, RegistryInput{Workspace: "acme"})
	if u.err == nil || !strings.Contains(u.err.Error(), "definition: the stored webhook would be") {
		t.Errorf("oversized stored webhook: got %v, want a definition rejection", u.err)
	}
	if len(listed) != 0 {
		t.Errorf("after the rejection: got %d webhooks, want 0", len(listed))
	}
}

// A legacy state (results kept before the bounds) is cut and trimmed to
// the limit before it is carried over; webhooks are all kept.
func TestBoundStateTrimsLegacyResults(t *testing.T) {
	s := RegistryState{Tests: map[string]TestResult{}}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < MaxWebhooks; i++ {
		id := fmt.Sprintf("wh_%03d", i)
		s.Webhooks = append(s.Webhooks, webhook.Webhook{ID: id, Name: id})
		s.Tests[id] = TestResult{WebhookID: id, FiredAt: base.Add(time.Duration(i) * time.Minute), Body: hostile(64 << 10)}
	}
	size, err := BoundState(&s)
	if err != nil {
		t.Fatal(err)
	}
	if n := webhook.EncodedSize(s); size != n || n > RegistryStateLimit {
		t.Errorf("bounded state: got %d bytes (reported %d), want at most %d", n, size, RegistryStateLimit)
	}
	if len(s.Webhooks) != MaxWebhooks || len(s.Tests) != MaxWebhooks {
		t.Errorf("bounded state: got %d webhooks and %d results, want %d of each (cut bodies fit)", len(s.Webhooks), len(s.Tests), MaxWebhooks)
	}
	for id, r := range s.Tests {
		if n := encodedString(r.Body); n > MaxTestBodyBytes {
			t.Errorf("%s: body of %d encoded bytes, want at most %d", id, n, MaxTestBodyBytes)
		}
	}
}

// A state too large for Temporal (only possible with webhooks stored before
// the bounds) is not carried over, which would end the registry: the run
// goes on taking writes, and continues as new once they shrink the state.
func TestRegistryStaysInItsRunWhileTheStateIsTooLarge(t *testing.T) {
	defer func(w int) { registryWriteLimit = w }(registryWriteLimit)
	registryWriteLimit = 2

	legacy := RegistryState{Tests: map[string]TestResult{}}
	for i := 0; i < 150; i++ {
		id := fmt.Sprintf("wh_%03d", i)
		w := webhook.Webhook{ID: id, Workspace: "acme", Name: id, Entity: "contact", Events: []event.Type{event.RecordCreated}, URL: "https://hooks.example.com/" + id, Active: true,
			Conditions: []condition.Condition{{Field: "note", Op: condition.Equals, Value: json.RawMessage(`"` + strings.Repeat("x", 16000) + `"`)}}}
		legacy.Webhooks = append(legacy.Webhooks, w)
	}
	if n := webhook.EncodedSize(legacy); n <= registryCarryLimit {
		t.Fatalf("legacy state is %d bytes, want above %d for this test", n, registryCarryLimit)
	}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RegistryWorkflow, workflow.RegisterOptions{Name: RegistryWorkflowName})
	for i, at := range []time.Duration{time.Second, 2 * time.Second} {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(UpdateSetActive, fmt.Sprintf("toggle%d", i), &updateResult{}, SetActiveRequest{ID: "wh_000", Active: true})
		}, at)
	}
	listed := -1
	env.RegisterDelayedCallback(func() {
		var l []webhook.View
		v, err := env.QueryWorkflow(QueryList)
		if err == nil && v.Get(&l) == nil {
			listed = len(l)
		}
	}, 3*time.Second)
	deleted := 0
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("wh_%03d", 149-i)
		env.RegisterDelayedCallback(func() {
			u := &updateResult{}
			env.UpdateWorkflow(UpdateDelete, "del"+id, u, IDRequest{ID: id})
			if u.err == nil {
				deleted++
			}
		}, time.Duration(4+i)*time.Second)
	}
	env.ExecuteWorkflow(RegistryWorkflowName, RegistryInput{Workspace: "acme", State: &legacy})

	if listed != 150 {
		t.Errorf("after the writes that reached the write limit: got %d webhooks listed, want 150 (the run still going)", listed)
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new once the state shrank", err)
	}
	var next RegistryInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	size := webhook.EncodedSize(next)
	if size > registryCarryLimit || len(next.State.Webhooks) != 150-deleted || deleted >= 60 {
		t.Errorf("continue-as-new after %d deletes: %d webhooks, %d bytes; want 150 minus the deletes and at most %d bytes, before the last delete", deleted, len(next.State.Webhooks), size, registryCarryLimit)
	}
	if plus := webhook.EncodedSize(legacy.Webhooks[0]); size+plus <= registryCarryLimit {
		t.Errorf("continued as new at %d bytes, though one delete earlier (%d bytes more) already fitted", size, plus)
	}
}
