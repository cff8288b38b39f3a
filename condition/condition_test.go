package condition

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hari-crm/webhooks/event"
)

func parse(t *testing.T, s string) Condition {
	t.Helper()
	var c Condition
	if err := event.StrictUnmarshal([]byte(s), &c); err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return c
}

func TestEval(t *testing.T) {
	won := event.Event{Type: event.StageChanged, Record: event.Values(map[string]any{"id": "o1", "stage": "Closed Won", "amount": 48000, "owner": "Vincent"}),
		Changes: map[string]event.Change{"stage": event.ChangeOf("Negotiation", "Closed Won")}}
	created := event.Event{Type: event.RecordCreated, Record: event.Values(map[string]any{"id": "c1", "stage": "Closed Won", "vip": true})}
	tests := []struct {
		cond string
		ev   event.Event
		want bool
	}{
		{`{"field":"stage","op":"changed_to","value":"Closed Won"}`, won, true},
		{`{"field":"stage","op":"changed_to","value":"Closed Lost"}`, won, false},
		{`{"field":"stage","op":"changed_to","value":"Closed Won"}`, created, false},
		{`{"field":"stage","op":"changed_from","value":"Negotiation"}`, won, true},
		{`{"field":"stage","op":"changed_from","value":"Proposal"}`, won, false},
		{`{"field":"stage","op":"changed"}`, won, true},
		{`{"field":"owner","op":"changed"}`, won, false},
		{`{"field":"amount","op":"equals","value":48000}`, won, true},
		{`{"field":"amount","op":"equals","value":48000.0}`, won, true},
		{`{"field":"amount","op":"equals","value":"48000"}`, won, false},
		{`{"field":"missing","op":"equals","value":1}`, won, false},
		{`{"field":"vip","op":"equals","value":true}`, created, true},
		{`{"field":"owner","op":"not_equals","value":"Ann"}`, won, true},
		{`{"field":"owner","op":"not_equals","value":"Vincent"}`, won, false},
		{`{"field":"missing","op":"not_equals","value":"x"}`, won, true},
	}
	for _, tt := range tests {
		c := parse(t, tt.cond)
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		if got := c.Eval(tt.ev); got != tt.want {
			t.Errorf("%s on %s: got %v, want %v", tt.cond, tt.ev.Type, got, tt.want)
		}
	}
}

func TestEvalAll(t *testing.T) {
	ev := event.Event{Record: event.Values(map[string]any{"id": "o1", "stage": "Closed Won", "owner": "Vincent"}),
		Changes: map[string]event.Change{"stage": event.ChangeOf("Negotiation", "Closed Won")}}
	yes := Condition{Field: "stage", Op: ChangedTo, Value: json.RawMessage(`"Closed Won"`)}
	no := Condition{Field: "owner", Op: Equals, Value: json.RawMessage(`"Ann"`)}
	tests := []struct {
		match Match
		cs    []Condition
		want  bool
	}{
		{"", nil, true},
		{"", []Condition{yes}, true},
		{All, []Condition{yes, no}, false},
		{"", []Condition{yes, no}, false},
		{Any, []Condition{yes, no}, true},
		{Any, []Condition{no}, false},
	}
	for i, tt := range tests {
		if got := EvalAll(tt.match, tt.cs, ev); got != tt.want {
			t.Errorf("case %d (%s): got %v, want %v", i, tt.match, got, tt.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct{ cond, want string }{
		{`{"op":"equals","value":1}`, "field is required"},
		{`{"field":"stage"}`, "op is required"},
		{`{"field":"stage","op":"matches","value":"x"}`, `unknown op "matches"`},
		{`{"field":"stage","op":"changed_to"}`, "needs a value"},
		{`{"field":"stage","op":"changed","value":"x"}`, "takes no value"},
		{`{"field":"stage","op":"equals","value":"` + strings.Repeat("x", MaxValueBytes) + `"}`, `value of "stage" is 514 bytes, longer than 512`},
	}
	for _, tt := range tests {
		err := parse(t, tt.cond).Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cond, err, tt.want)
		}
	}
	if err := ValidateAll("some", nil); err == nil || !strings.Contains(err.Error(), "match must be") {
		t.Errorf("bad match: got %v", err)
	}
	many := make([]Condition, MaxConditions+1)
	for i := range many {
		many[i] = Condition{Field: "f", Op: Changed}
	}
	if err := ValidateAll(All, many); err == nil || !strings.Contains(err.Error(), "at most 20 conditions, got 21") {
		t.Errorf("21 conditions: got %v, want at most 20", err)
	}
	if err := ValidateAll(All, many[:MaxConditions]); err != nil {
		t.Errorf("20 conditions: got %v, want accepted", err)
	}
	var c Condition
	if err := event.StrictUnmarshal([]byte(`{"field":"stage","operator":"changed"}`), &c); err == nil {
		t.Error("an unknown key in a condition was accepted")
	}
}

func TestDescribe(t *testing.T) {
	cs := []Condition{
		{Field: "stage", Op: ChangedTo, Value: json.RawMessage(`"Closed Won"`)},
		{Field: "amount", Op: Equals, Value: json.RawMessage(`48000`)},
	}
	if got, want := DescribeAll(All, cs), `stage changed to "Closed Won" and amount is 48000`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := DescribeAll(Any, nil); got != "always" {
		t.Errorf("no conditions: got %q", got)
	}
}

func FuzzConditions(f *testing.F) {
	f.Add([]byte(`[{"field":"stage","op":"changed_to","value":"Closed Won"}]`), []byte(`{"stage":{"old":"a","new":"Closed Won"}}`))
	f.Add([]byte(`[{"field":"amount","op":"equals","value":48000.0}]`), []byte(`{}`))
	f.Add([]byte(`[{"field":"x","op":"changed"},{"field":"y","op":"not_equals","value":[1,{"a":null}]}]`), []byte(`{"x":{"old":1,"new":2}}`))
	f.Add([]byte(`[{"field":"","op":""}]`), []byte(`null`))
	f.Fuzz(func(t *testing.T, conds, changes []byte) {
		var cs []Condition
		if err := event.StrictUnmarshal(conds, &cs); err != nil {
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := ValidateAll(All, cs); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("validation error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var ch map[string]event.Change
		_ = json.Unmarshal(changes, &ch)
		ev := event.Event{Type: event.RecordUpdated, Record: event.Values(map[string]any{"id": "r", "stage": "Closed Won", "amount": 48000}), Changes: ch}
		all, anyOf := EvalAll(All, cs, ev), EvalAll(Any, cs, ev)
		if len(cs) > 0 && all && !anyOf {
			t.Fatal("all conditions hold but none does")
		}
		_ = DescribeAll(All, cs)
	})
}
