package payload

import (
	"encoding/json"
	"testing"

	"github.com/hari-crm/webhooks/event"
)

func TestBuild(t *testing.T) {
	created := `{"id":"e1","event":"record.created","entity":"contact","timestamp":"2026-03-31T14:30:00Z","workspace":"yourcompany",
	 "record":{"id":"a1b2c3d4","name":"Jane Smith","email":"jane@example.com","company":"Acme Corp","owner":"Vincent","created_at":"2026-03-31T14:30:00Z"}}`
	staged := `{"id":"e2","event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":"acme",
	 "record":{"id":"o1","name":"Renewal","amount":12345678901234567890,"stage":"proposal","owner":"Vincent","note":"<b>&</b>"},
	 "changes":{"stage":{"old":"qualification","new":"proposal"},"owner":{"old":"Ann","new":"Vincent"}}}`
	tests := []struct {
		name   string
		event  string
		fields []string
		want   string
	}{
		{
			name:  "created: all fields, id first, no changes",
			event: created,
			want:  `{"event":"record.created","entity":"contact","timestamp":"2026-03-31T14:30:00Z","workspace":"yourcompany","record":{"id":"a1b2c3d4","company":"Acme Corp","created_at":"2026-03-31T14:30:00Z","email":"jane@example.com","name":"Jane Smith","owner":"Vincent"}}`,
		},
		{
			name:   "created: selected fields in selection order, missing ones left out",
			event:  created,
			fields: []string{"name", "email", "phone"},
			want:   `{"event":"record.created","entity":"contact","timestamp":"2026-03-31T14:30:00Z","workspace":"yourcompany","record":{"id":"a1b2c3d4","name":"Jane Smith","email":"jane@example.com"}}`,
		},
		{
			name:  "modification: changes with every changed field, big numbers kept exact, no HTML escaping",
			event: staged,
			want:  `{"event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":"acme","record":{"id":"o1","amount":12345678901234567890,"name":"Renewal","note":"<b>&</b>","owner":"Vincent","stage":"proposal"},"changes":{"owner":{"old":"Ann","new":"Vincent"},"stage":{"old":"qualification","new":"proposal"}}}`,
		},
		{
			name:   "modification: changes only for selected fields",
			event:  staged,
			fields: []string{"name", "stage", "id"},
			want:   `{"event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":"acme","record":{"id":"o1","name":"Renewal","stage":"proposal"},"changes":{"stage":{"old":"qualification","new":"proposal"}}}`,
		},
		{
			name:   "modification: no selected field changed gives empty changes",
			event:  staged,
			fields: []string{"name"},
			want:   `{"event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":"acme","record":{"id":"o1","name":"Renewal"},"changes":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := event.Parse([]byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Build(ev, tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			again, _ := Build(ev, tt.fields)
			if string(again) != string(got) {
				t.Error("Build is not deterministic")
			}
		})
	}
}

// The workflow builds the body after Temporal has carried the event as
// JSON: big integers must come out exactly as they went in.
func TestBuildAfterJSONRoundTrip(t *testing.T) {
	ev, err := event.Parse([]byte(`{"id":"e","event":"record.created","entity":"deal","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"d1","amount":9007199254740993,"ratio":0.1}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	var back event.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, _ := Build(back, nil)
	want := `{"event":"record.created","entity":"deal","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"d1","amount":9007199254740993,"ratio":0.1}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Values that went through Temporal's JSON data converter come back with
// <, > and & escaped inside json.RawMessage; the body is the same bytes as
// for values that did not (a Test fire's), nested values included, with
// member order and big numbers kept.
func TestBuildSameBytesWithOrWithoutHTMLEscapedValues(t *testing.T) {
	doc := `{"id":"e","event":"record.updated","entity":"deal","timestamp":"2026-03-31T14:30:00Z","workspace":"w",
	 "record":{"id":"d1","name":"a<b&c>","meta":{"z":"<i>","a":[1,12345678901234567890,true,null,{"k":"x&y"}]},"uni":"caf\u00e9 \u2028"},
	 "changes":{"name":{"old":"a&b","new":"a<b&c>"}}}`
	ev, err := event.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	direct, err := Build(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev) // HTML-escapes inside the raw values, as the data converter does
	var back event.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(back.Record["name"]) || string(back.Record["name"]) != `"a\u003cb\u0026c\u003e"` {
		t.Fatalf("the round trip did not escape as the data converter does: %s", back.Record["name"])
	}
	carried, err := Build(back, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":"record.updated","entity":"deal","timestamp":"2026-03-31T14:30:00Z","workspace":"w","record":{"id":"d1","meta":{"z":"<i>","a":[1,12345678901234567890,true,null,{"k":"x&y"}]},"name":"a<b&c>","uni":"café \u2028"},"changes":{"name":{"old":"a&b","new":"a<b&c>"}}}`
	if string(direct) != want {
		t.Errorf("direct:\ngot  %s\nwant %s", direct, want)
	}
	if string(carried) != want {
		t.Errorf("after the data converter:\ngot  %s\nwant %s", carried, want)
	}
}
