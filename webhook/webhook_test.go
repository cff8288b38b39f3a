package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/condition"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/payload"
)

func valid() Config {
	return Config{
		Name: "ERP", Entity: "opportunity", Events: []event.Type{event.RecordUpdated, event.StageChanged},
		Conditions: []condition.Condition{{Field: "stage", Op: condition.ChangedTo, Value: json.RawMessage(`"Closed Won"`)}},
		URL:        "https://erp.example.com/hook", Fields: []string{"name", "amount", "owner"},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(c *Config)
		wantField  string
		wantSubstr string
	}{
		{"valid", func(*Config) {}, "", ""},
		{"no name", func(c *Config) { c.Name = "" }, "name", "required"},
		{"padded name", func(c *Config) { c.Name = " ERP" }, "name", "spaces"},
		{"unknown entity", func(c *Config) { c.Entity = "spaceship" }, "entity", `unknown entity "spaceship"`},
		{"no events", func(c *Config) { c.Events = nil }, "events", "at least one"},
		{"unknown event", func(c *Config) { c.Events = []event.Type{"record.exploded"} }, "events", "unknown event type"},
		{"duplicate event", func(c *Config) { c.Events = []event.Type{event.RecordUpdated, event.RecordUpdated} }, "events", "twice"},
		{"bad condition", func(c *Config) { c.Conditions[0].Op = "becomes" }, "conditions", `unknown op "becomes"`},
		{"bad match", func(c *Config) { c.Match = "some" }, "conditions", "match must be"},
		{"http url", func(c *Config) { c.URL = "http://erp.example.com" }, "url", "https"},
		{"duplicate field", func(c *Config) { c.Fields = []string{"name", "name"} }, "fields", "twice"},
		{"long name", func(c *Config) { c.Name = strings.Repeat("é", MaxNameRunes+1) }, "name", "longer than 100 characters"},
		{"control character in name", func(c *Config) { c.Name = "ERP\u0000x" }, "name", "control characters"},
		{"large condition value", func(c *Config) {
			c.Conditions[0].Value = json.RawMessage(`"` + strings.Repeat("x", 246<<10) + `"`)
		}, "conditions", "longer than 512"},
		{"too many fields", func(c *Config) {
			c.Fields = nil
			for i := 0; i <= MaxFields; i++ {
				c.Fields = append(c.Fields, fmt.Sprintf("f%d", i))
			}
		}, "fields", "at most 100 fields, got 101"},
		{"long field name", func(c *Config) { c.Fields = []string{strings.Repeat("f", MaxFieldBytes+1)} }, "fields", "1 to 100 bytes"},
		// Every piece within its own bound, the whole too large once
		// escaped: 20 values of 500 '<' are 60 KB encoded.
		{"large definition", func(c *Config) {
			c.Conditions = nil
			for i := 0; i < condition.MaxConditions; i++ {
				c.Conditions = append(c.Conditions, condition.Condition{Field: fmt.Sprintf("f%d", i), Op: condition.Equals, Value: json.RawMessage(`"` + strings.Repeat("<", 500) + `"`)})
			}
		}, "definition", "at most 4096"},
	}
	for _, tt := range tests {
		c := valid()
		c.Conditions = append([]condition.Condition(nil), c.Conditions...)
		tt.edit(&c)
		err := c.Validate()
		if tt.wantField == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.Contains(fe.Message, tt.wantSubstr) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want %s: ...%s", tt.name, err, tt.wantField, tt.wantSubstr)
		}
	}
	if err := ValidateSecret("short"); err == nil {
		t.Error("a 5-character secret was accepted")
	}
}

func TestMatches(t *testing.T) {
	w := Webhook{Active: true}
	w.Apply(valid())
	won := event.Event{Type: event.StageChanged, Entity: "opportunity", Record: event.Values(map[string]any{"id": "o"}), Changes: map[string]event.Change{"stage": event.ChangeOf("A", "Closed Won")}}
	tests := []struct {
		name string
		edit func(e *event.Event, w *Webhook)
		want bool
	}{
		{"matching", func(*event.Event, *Webhook) {}, true},
		{"inactive", func(_ *event.Event, w *Webhook) { w.Active = false }, false},
		{"other entity", func(e *event.Event, _ *Webhook) { e.Entity = "contact" }, false},
		{"other event type", func(e *event.Event, _ *Webhook) { e.Type = event.StatusChanged }, false},
		{"condition fails", func(e *event.Event, _ *Webhook) {
			e.Changes = map[string]event.Change{"stage": event.ChangeOf("A", "Lost")}
		}, false},
	}
	for _, tt := range tests {
		e, ww := won, w
		tt.edit(&e, &ww)
		if got := ww.Matches(e); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSampleSatisfiesTheWebhook(t *testing.T) {
	w := Webhook{ID: "wh", Workspace: "acme", Active: true}
	w.Apply(valid())
	ev := Sample(w, "test-1", time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC))
	if err := ev.Validate(); err != nil {
		t.Fatalf("sample event is invalid: %v", err)
	}
	if !w.Matches(ev) {
		t.Errorf("the sample event does not match its own webhook: %+v", ev)
	}
	body, err := payload.Build(ev, w.Fields)
	if err != nil {
		t.Fatal(err)
	}
	// A stage-changed webhook's sample is a stage change (not its first
	// event, record.updated); stage is not a selected field, so the
	// payload builder keeps no change, as it does for a real stage change.
	want := `{"event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":"acme","record":{"id":"sample-opportunity-0001","name":"Acme Corp – 200 seats","amount":48000,"owner":"Vincent"},"changes":{}}`
	if string(body) != want {
		t.Errorf("sample body\n got %s\nwant %s", body, want)
	}
	if got := ChangesNotSent(ev, w.Fields); !slices.Equal(got, []string{"stage"}) {
		t.Errorf("changes not sent: got %v, want [stage]", got)
	}
}

// The sample is an event of the webhook's trigger with a change of the
// field that triggers it, whatever order the events were picked in.
func TestSampleIsAnEventOfTheTrigger(t *testing.T) {
	at := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	won := json.RawMessage(`"Closed Won"`)
	changedTo := func(field string, v string) []condition.Condition {
		return []condition.Condition{{Field: field, Op: condition.ChangedTo, Value: json.RawMessage(v)}}
	}
	tests := []struct {
		name      string
		w         Webhook
		wantType  event.Type
		wantBody  string
		wantDrops []string
	}{
		{"stage changed to Closed Won, stage sent", Webhook{Entity: "opportunity", Events: []event.Type{event.RecordUpdated, event.StageChanged},
			Conditions: []condition.Condition{{Field: "stage", Op: condition.ChangedTo, Value: won}}, Fields: []string{"name", "stage"}},
			event.StageChanged, `"changes":{"stage":{"old":"Negotiation","new":"Closed Won"}}`, nil},
		{"stage changed to Closed Won, stage not sent", Webhook{Entity: "opportunity", Events: []event.Type{event.RecordUpdated, event.StageChanged},
			Conditions: []condition.Condition{{Field: "stage", Op: condition.ChangedTo, Value: won}}, Fields: []string{"name"}},
			event.StageChanged, `"changes":{}`, []string{"stage"}},
		{"stage changes, every field sent", Webhook{Entity: "lead", Events: []event.Type{event.RecordCreated, event.StageChanged}},
			event.StageChanged, `"changes":{"stage":{"old":"New","new":"Contacted"}}`, nil},
		{"owner changed to Maria", Webhook{Entity: "contact", Events: []event.Type{event.RecordUpdated, event.AssignmentChanged},
			Conditions: changedTo("owner", `"Maria Garcia"`), Fields: []string{"name", "owner"}},
			event.AssignmentChanged, `"changes":{"owner":{"old":"Vincent","new":"Maria Garcia"}}`, nil},
		{"amount changed: an update", Webhook{Entity: "opportunity", Events: []event.Type{event.StageChanged, event.RecordUpdated},
			Conditions: []condition.Condition{{Field: "amount", Op: condition.Changed}}, Fields: []string{"name", "amount"}},
			event.RecordUpdated, `"changes":{"amount":{"old":36000,"new":48000}}`, nil},
		{"created only", Webhook{Entity: "company", Events: []event.Type{event.RecordCreated}},
			event.RecordCreated, `"record":{"id":"sample-company-0001"`, nil},
	}
	for _, tt := range tests {
		tt.w.ID, tt.w.Workspace, tt.w.Active = "wh", "acme", true
		ev := Sample(tt.w, "test-1", at)
		if ev.Type != tt.wantType {
			t.Errorf("%s: sample event got %s, want %s", tt.name, ev.Type, tt.wantType)
		}
		if err := ev.Validate(); err != nil {
			t.Errorf("%s: sample event invalid: %v", tt.name, err)
		}
		if !tt.w.Matches(ev) {
			t.Errorf("%s: got a sample that does not match its webhook: %+v", tt.name, ev)
		}
		body, err := payload.Build(ev, tt.w.Fields)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("%s: body got %s, want it to contain %s", tt.name, body, tt.wantBody)
		}
		if got := ChangesNotSent(ev, tt.w.Fields); !slices.Equal(got, tt.wantDrops) {
			t.Errorf("%s: changes not sent got %v, want %v", tt.name, got, tt.wantDrops)
		}
	}
}

func TestSetSecretRotation(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var w Webhook
	w.SetSecret("sealed:a", "****aaaa", now)
	if w.PreviousSealedSecret != "" {
		t.Error("a first secret left a previous one")
	}
	w.SetSecret("sealed:b", "****bbbb", now)
	if w.SealedSecret != "sealed:b" || w.PreviousSealedSecret != "sealed:a" || !w.PreviousUntil.Equal(now.Add(RotationGrace)) {
		t.Errorf("rotation: %+v", w)
	}
	w.SetSecret("", "", now)
	if w.SealedSecret != "" || w.PreviousSealedSecret != "" || w.SecretHint != "" {
		t.Errorf("removal: %+v", w)
	}
	if v := (Webhook{SealedSecret: "sealed:x", SecretHint: "****"}).View(); !v.HasSecret || v.Secret != "****" {
		t.Errorf("view: %+v", v)
	}
}

// A Test fire's sample reads like a record of its entity: an opportunity
// is not named like a person, and a stage change goes from the stage
// before to the stage after, never from a placeholder.
func TestSampleIsRealisticPerEntity(t *testing.T) {
	at := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	won := json.RawMessage(`"Closed Won"`)
	tests := []struct {
		name  string
		w     Webhook
		wants []string
	}{
		{"opportunity won", Webhook{Entity: "opportunity", Events: []event.Type{event.StageChanged},
			Conditions: []condition.Condition{{Field: "stage", Op: condition.ChangedTo, Value: won}}, Fields: []string{"name", "amount", "owner", "stage"}},
			[]string{`"name":"Acme Corp – 200 seats"`, `"stage":{"old":"Negotiation","new":"Closed Won"}`}},
		{"opportunity leaves negotiation", Webhook{Entity: "opportunity", Events: []event.Type{event.StageChanged},
			Conditions: []condition.Condition{{Field: "stage", Op: condition.ChangedFrom, Value: json.RawMessage(`"Negotiation"`)}}},
			[]string{`"stage":{"old":"Negotiation","new":"Closed Won"}`, `"amount":48000`}},
		{"lead stage", Webhook{Entity: "lead", Events: []event.Type{event.StageChanged}},
			[]string{`"name":"Jordan Lee"`, `"stage":{"old":"New","new":"Contacted"}`}},
		{"contact status", Webhook{Entity: "contact", Events: []event.Type{event.StatusChanged}, Fields: []string{"name", "status"}},
			[]string{`"name":"Jane Smith"`, `"status":{"old":"inactive","new":"active"}`}},
		{"company owner", Webhook{Entity: "company", Events: []event.Type{event.AssignmentChanged}, Fields: []string{"name", "owner"}},
			[]string{`"name":"Acme Corp"`, `"owner":{"old":"Maria Garcia","new":"Vincent"}`}},
	}
	for _, tt := range tests {
		tt.w.ID, tt.w.Workspace, tt.w.Active = "wh", "acme", true
		ev := Sample(tt.w, "test-1", at)
		if err := ev.Validate(); err != nil {
			t.Errorf("%s: sample event invalid: %v", tt.name, err)
			continue
		}
		if !tt.w.Matches(ev) {
			t.Errorf("%s: got a sample that does not match its webhook: %+v", tt.name, ev)
		}
		body, err := payload.Build(ev, tt.w.Fields)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range tt.wants {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: body got %s, want it to contain %s", tt.name, body, want)
			}
		}
		for _, bad := range []string{"previous value", "new value", "sample "} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s: body got %s, want no placeholder %q", tt.name, body, bad)
			}
		}
	}
}

// The catalog the Settings page offers is complete, and every field it
// offers gets a realistic sample value in Test fire and the preview.
func TestCatalog(t *testing.T) {
	c := TheCatalog()
	if len(c.Events) != len(event.Types) {
		t.Fatalf("catalog: got %d event types, want %d", len(c.Events), len(event.Types))
	}
	for i, e := range c.Events {
		if e.Type != event.Types[i] || e.Label == "" || e.Description == "" {
			t.Errorf("event %d: got %+v, want %s with a label and a description", i, e, event.Types[i])
		}
	}
	at := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	for _, entity := range Entities {
		fields := c.Fields[entity]
		if len(fields) == 0 {
			t.Errorf("%s: got no known fields", entity)
		}
		for _, f := range fields {
			if v := string(sampleValue(entity, f, at)); strings.Contains(v, "sample") {
				t.Errorf("%s.%s: sample value %s, want a realistic one", entity, f, v)
			}
		}
	}
}
