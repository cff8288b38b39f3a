package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const valid = `{"id":"e-1","event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":"acme",
"record":{"id":"opp-1","name":"Deal"},"changes":{"stage":{"old":"qualification","new":"proposal"}}}`

func TestParseRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, json, wantField, wantMsg string
	}{
		{"malformed json", `{"event":`, "json", "malformed JSON"},
		{"not an object", `[1,2]`, "json", "must be an object"},
		{"trailing data", valid + `{}`, "json", "unexpected data"},
		{"unknown type", strings.Replace(valid, "stage.changed", "record.exploded", 1), "event", `unknown event type "record.exploded"`},
		{"missing type", strings.Replace(valid, `"event":"stage.changed",`, "", 1), "event", "is required"},
		{"missing workspace", strings.Replace(valid, `"workspace":"acme",`, "", 1), "workspace", "is required"},
		{"missing entity", strings.Replace(valid, `"entity":"opportunity",`, "", 1), "entity", "is required"},
		{"missing record id", strings.Replace(valid, `"id":"opp-1",`, "", 1), "record.id", "is required"},
		{"numeric record id", strings.Replace(valid, `"id":"opp-1"`, `"id":7`, 1), "record.id", "non-empty string"},
		{"missing record", strings.Replace(valid, `"record":{"id":"opp-1","name":"Deal"},`, "", 1), "record", "is required"},
		{"bad timestamp", strings.Replace(valid, "2026-03-31T14:30:00Z", "31/03/2026 14:30", 1), "timestamp", "RFC 3339"},
		{"timestamp without zone", strings.Replace(valid, "2026-03-31T14:30:00Z", "2026-03-31T14:30:00", 1), "timestamp", "RFC 3339"},
		{"missing timestamp", strings.Replace(valid, `"timestamp":"2026-03-31T14:30:00Z",`, "", 1), "timestamp", "is required"},
		{"update without changes", strings.Replace(valid, `,"changes":{"stage":{"old":"qualification","new":"proposal"}}`, "", 1), "changes", "at least one changed field"},
		{"empty change", strings.Replace(valid, `{"old":"qualification","new":"proposal"}`, `{}`, 1), "changes.stage", `"old" and "new"`},
		{"null change", strings.Replace(valid, `{"old":"qualification","new":"proposal"}`, `null`, 1), "changes.stage", `"old" and "new"`},
		{"change without new", strings.Replace(valid, `,"new":"proposal"`, ``, 1), "changes.stage", `"old" and "new"`},
		{"change without old", strings.Replace(valid, `"old":"qualification",`, ``, 1), "changes.stage", `"old" and "new"`},
		{"created with changes", strings.Replace(valid, "stage.changed", "record.created", 1), "changes", "only modification events"},
		{"unknown field", strings.Replace(valid, `"workspace"`, `"workspce":"x","workspace"`, 1), "workspce", "unknown field"},
		{"wrong type", strings.Replace(valid, `"workspace":"acme"`, `"workspace":42`, 1), "workspace", "must be a string"},
		{"workspace with slash", strings.Replace(valid, `"workspace":"acme"`, `"workspace":"a/b"`, 1), "workspace", "may hold only"},
		{"workspace with quote", strings.Replace(valid, `"workspace":"acme"`, `"workspace":"a'b"`, 1), "workspace", "may hold only"},
		{"bad id", strings.Replace(valid, `"id":"e-1"`, `"id":"e 1/x"`, 1), "id", "may hold only"},
		{"invalid utf-8", "{\"event\":\"\xff\"}", "json", "UTF-8"},
		{"too large", `{"event":"` + strings.Repeat("a", MaxSize) + `"}`, "event", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if err == nil {
				t.Fatal("got no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v has no FieldError", err)
			}
			if fe.Field != tt.wantField || !strings.Contains(fe.Message, tt.wantMsg) {
				t.Errorf("got %s: %s, want field %s with %q", fe.Field, fe.Message, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestParseAcceptsEveryType(t *testing.T) {
	for _, typ := range Types {
		doc := strings.Replace(valid, "stage.changed", string(typ), 1)
		if !typ.IsModification() {
			doc = strings.Replace(doc, `,"changes":{"stage":{"old":"qualification","new":"proposal"}}`, "", 1)
		}
		ev, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if ev.Type != typ || ev.RecordID() != "opp-1" || ev.ID != "e-1" {
			t.Errorf("%s: parsed %+v", typ, ev)
		}
	}
}

func TestParseAssignsID(t *testing.T) {
	doc := strings.Replace(valid, `"id":"e-1",`, "", 1)
	a, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse([]byte(doc))
	if len(a.ID) != 36 || a.ID == b.ID {
		t.Errorf("got ids %q and %q, want two distinct UUIDs", a.ID, b.ID)
	}
}

func TestModificationTypes(t *testing.T) {
	want := map[Type]bool{RecordCreated: false, RecordDeleted: false, RecordUpdated: true, StageChanged: true, StatusChanged: true, AssignmentChanged: true}
	for typ, mod := range want {
		if typ.IsModification() != mod {
			t.Errorf("%s.IsModification() = %v, want %v", typ, !mod, mod)
		}
	}
}

func TestDuplicateKeysRejected(t *testing.T) {
	for _, doc := range []string{
		`{"event":"record.created","event":"record.deleted"}`,
		strings.Replace(valid, `"name":"Deal"`, `"name":"Deal","name":"Other"`, 1),
		`{"record":{"a":[{"x":1,"x":2}]}}`,
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Errorf("%s: got %v, want a duplicate key error", doc, err)
		}
	}
	// The same key in sibling objects is fine.
	ok := strings.Replace(valid, `"changes":{"stage":{"old":"qualification","new":"proposal"}}`, `"changes":{"stage":{"old":"a","new":"b"},"owner":{"old":"a","new":"b"}}`, 1)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("sibling objects with the same keys: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`{"event":"record.created","entity":"contact","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"x"}}`))
	f.Add([]byte(`{"event":`))
	f.Add([]byte(`{"event":"record.created","event":"x"}`))
	f.Add([]byte("{\"record\":{\"id\":\"\u202e\u0000\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
				t.Fatalf("error %v names no field", err)
			}
			return
		}
		// Whatever is accepted is valid and survives a round trip.
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
	})
}

// An empty value is written as null: {"old":null,"new":"x"} is a change.
func TestChangeWithNullValueIsValid(t *testing.T) {
	doc := `{"event":"record.updated","entity":"contact","timestamp":"2026-03-31T14:30:00Z","workspace":"acme","record":{"id":"c-1"},"changes":{"email":{"old":null,"new":"a@b.c"}}}`
	ev, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("got %v, want valid", err)
	}
	if got := string(ev.Changes["email"].Old); got != "null" {
		t.Errorf("old: got %s, want null", got)
	}
}
