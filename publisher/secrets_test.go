package publisher

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/workflows"
)

const attackerEvent = `"event":"record.created","entity":"contact","timestamp":"2026-03-31T14:30:00Z","workspace":"attacker","record":{"id":"c1"}`

// A direct target carrying a router-only key is refused at parse time (the
// CLI's and the API's door) with the key named, and nothing is published.
func TestParseMessageRefusesSealedFieldsInTargets(t *testing.T) {
	for _, key := range endpoint.RouterOnlyKeys {
		value := `"sealed:v2:k1:AAAA"`
		if key == "previous_until" {
			value = `"2030-01-01T00:00:00Z"`
		}
		msg := `{` + attackerEvent + `,"targets":[{"id":"t1","url":"https://hooks.example.com/x","` + key + `":` + value + `}]}`
		_, err := ParseMessage([]byte(msg))
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != key || !strings.Contains(fe.Message, "only by the webhook registry") {
			t.Errorf("%s: got %v, want a field error naming %s", key, err, key)
		}
	}
	msg := `{` + attackerEvent + `,"routed":[{"id":"t1","url":"https://hooks.example.com/x","sealed_secret":"sealed:v2:k1:AAAA"}]}`
	if _, err := ParseMessage([]byte(msg)); err == nil || !strings.Contains(err.Error(), "routed") {
		t.Errorf("routed in a message: got %v, want an error naming routed", err)
	}
}

// The Go API refuses a caller's routed targets: only the publisher fills
// them, from the registry.
func TestPublishRefusesRoutedTargetsFromCallers(t *testing.T) {
	in := workflows.EventInput{
		Event:  event.Event{ID: "e1", Type: event.RecordCreated, Entity: "contact", Timestamp: "2026-03-31T14:30:00Z", Workspace: "attacker", Record: event.Values(map[string]any{"id": "c1"})},
		Routed: []endpoint.Routed{{ID: "wh_victim", URL: "https://evil.example.com/", SealedSecret: "sealed:v2:k1:AAAA"}},
	}
	if err := Validate(&in); !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), "routed:") {
		t.Errorf("Validate: got %v, want endpoint.ErrInvalid naming routed", err)
	}
	p := New(nil, Options{}) // refused before any call to Temporal
	if _, err := p.Publish(context.Background(), in); !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), "routed:") {
		t.Errorf("Publish: got %v, want endpoint.ErrInvalid naming routed", err)
	}
}
