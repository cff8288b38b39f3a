package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/workflows"
)

// startRecorder is a client.Client that records workflow starts (only
// ExecuteWorkflow is implemented; any other call panics).
type startRecorder struct {
	client.Client
	starts int
}

func (s *startRecorder) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, interface{}, ...interface{}) (client.WorkflowRun, error) {
	s.starts++
	return nil, errors.New("recorded")
}

func input(note string, targets ...endpoint.Target) workflows.EventInput {
	return workflows.EventInput{
		Event: event.Event{ID: "e-1", Type: event.RecordCreated, Entity: "contact", Timestamp: "2026-03-31T14:30:00Z", Workspace: "acme",
			Record: event.Values(map[string]any{"id": "c-1", "note": note})},
		Targets: targets,
	}
}

// The Go API refuses an event over 256 KiB encoded, as the HTTP API does,
// and starts nothing.
func TestPublishRefusesOversizedEvent(t *testing.T) {
	rec := &startRecorder{}
	p := New(rec, Options{})
	target := endpoint.Target{ID: "wh-1", URL: "https://hooks.example.com/a"}
	_, err := p.Publish(context.Background(), input(strings.Repeat("x", event.MaxSize), target))
	var fe *event.FieldError
	if !errors.Is(err, event.ErrInvalid) || !errors.As(err, &fe) || fe.Field != "event" || !strings.Contains(err.Error(), "the limit is 262144") {
		t.Fatalf("got %v, want an invalid event error naming the 262144-byte limit", err)
	}
	if rec.starts != 0 {
		t.Errorf("workflows started: got %d, want 0", rec.starts)
	}
	// Just under the limit is published (reaches the client).
	under := input(strings.Repeat("x", event.MaxSize-400), target)
	b, _ := json.Marshal(Message{Event: under.Event, Targets: under.Targets})
	if len(b) > event.MaxSize {
		t.Fatalf("test input is %d bytes, want it under the limit", len(b))
	}
	if _, err := p.Publish(context.Background(), under); err == nil || !strings.Contains(err.Error(), "recorded") || rec.starts != 1 {
		t.Errorf("an event under the limit: got %v with %d starts, want it started", err, rec.starts)
	}
}

// An event cannot name the same URL twice (fan-out against one receiver),
// however the URL is spelled.
func TestValidateRefusesDuplicateURLs(t *testing.T) {
	for _, pair := range [][2]string{
		{"https://hooks.example.com/a", "https://hooks.example.com/a"},
		{"https://hooks.example.com/a", "https://HOOKS.example.com:443/a"},
		{"https://b\u00fccher.de/a", "https://xn--bcher-kva.de/a"},
	} {
		in := input("n", endpoint.Target{ID: "wh-1", URL: pair[0]}, endpoint.Target{ID: "wh-2", URL: pair[1]})
		err := Validate(&in)
		if !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), "targets wh-1 and wh-2: url: the same URL appears twice") {
			t.Errorf("%s and %s: got %v, want refused as the same URL", pair[0], pair[1], err)
		}
	}
	in := input("n", endpoint.Target{ID: "wh-1", URL: "https://hooks.example.com/a"}, endpoint.Target{ID: "wh-2", URL: "https://hooks.example.com/b"})
	if err := Validate(&in); err != nil {
		t.Errorf("two paths on one host: got %v, want valid", err)
	}
}

// Issue 11 review, finding 4: URLs that differ only in query or path
// still fan one publish out against one host. At most
// endpoint.MaxTargetsPerHost direct targets of an event go to one host
// (however its name is spelled); other hosts are counted apart.
func TestValidateCapsDirectTargetsPerHost(t *testing.T) {
	var targets []endpoint.Target
	for i := 0; i < 50; i++ {
		targets = append(targets, endpoint.Target{ID: fmt.Sprint("t", i), URL: fmt.Sprintf("https://victim.example/x?%d", i)})
	}
	in := input("n", targets...)
	err := Validate(&in)
	if !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), "target t5: url: more than 5 direct targets of one event go to host victim.example") {
		t.Errorf("50 targets on one host: got %v, want refused at t5 naming the host and the cap", err)
	}
	mixed := []endpoint.Target{}
	for i := 0; i < endpoint.MaxTargetsPerHost; i++ {
		mixed = append(mixed, endpoint.Target{ID: fmt.Sprint("a", i), URL: fmt.Sprintf("https://a.example/%d", i)},
			endpoint.Target{ID: fmt.Sprint("b", i), URL: fmt.Sprintf("https://b.example/%d", i)})
	}
	in = input("n", mixed...)
	if err := Validate(&in); err != nil {
		t.Errorf("%d targets on each of two hosts: got %v, want valid", endpoint.MaxTargetsPerHost, err)
	}
	in = input("n", append(mixed, endpoint.Target{ID: "a-spelled", URL: "https://A.EXAMPLE:443/other"})...)
	if err := Validate(&in); err == nil || !strings.Contains(err.Error(), "target a-spelled") {
		t.Errorf("a sixth target on a.example spelled otherwise: got %v, want refused", err)
	}
}

func TestDeliveriesQuery(t *testing.T) {
	q, err := DeliveriesQuery("acme", "wh_1")
	want := "WorkflowType = 'WebhookEvent' AND HariWorkspace = 'acme' AND (HariWebhookKeys = '" + workflows.WebhookKey("wh_1") + "' OR HariWebhookIDs = 'wh_1')"
	if err != nil || q != want {
		t.Errorf("got %q, %v\nwant %q", q, err, want)
	}
	// An ID with quotes or backslashes never enters the query text.
	hostile := `x' OR HariWorkspace = 'other' OR '\`
	q, err = DeliveriesQuery("acme", hostile)
	want = "WorkflowType = 'WebhookEvent' AND HariWorkspace = 'acme' AND HariWebhookKeys = '" + workflows.WebhookKey(hostile) + "'"
	if err != nil || q != want {
		t.Errorf("got %q, %v\nwant %q", q, err, want)
	}
	if _, err := DeliveriesQuery("acme' OR 'a'='a", "wh_1"); !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), "workspace") {
		t.Errorf("hostile workspace: got %v, want refused naming workspace", err)
	}
}

// Direct mode is off unless allowed: by default a direct target with a
// plaintext secret is refused at publish (naming the target's secret) and
// nothing starts; a target without a secret, or AllowDirectSecrets, is
// published.
func TestPublishRefusesDirectSecretsByDefault(t *testing.T) {
	withSecret := endpoint.Target{ID: "wh-1", URL: "https://hooks.example.com/a", Secret: "s3cret-plain"}
	noSecret := endpoint.Target{ID: "wh-1", URL: "https://hooks.example.com/a"}
	for _, tt := range []struct {
		name    string
		opts    Options
		target  endpoint.Target
		refused bool
	}{
		{"default, plaintext secret", Options{}, withSecret, true},
		{"default, no secret", Options{}, noSecret, false},
		{"allowed, plaintext secret", Options{AllowDirectSecrets: true}, withSecret, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &startRecorder{}
			_, err := New(rec, tt.opts).Publish(context.Background(), input("n", tt.target))
			refused := errors.Is(err, endpoint.ErrInvalid) && strings.Contains(err.Error(), "target wh-1: secret")
			if refused != tt.refused {
				t.Fatalf("got %v, want refused=%v", err, tt.refused)
			}
			if want := map[bool]int{true: 0, false: 1}[tt.refused]; rec.starts != want {
				t.Errorf("workflows started: got %d, want %d", rec.starts, want)
			}
		})
	}
}
