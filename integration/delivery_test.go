package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/payload"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

const secret = "hari_integration_secret_value"

func newEvent() event.Event {
	return event.Event{
		ID:        uuid.NewString(),
		Type:      event.StageChanged,
		Entity:    "opportunity",
		Timestamp: "2026-03-31T14:30:00Z",
		Workspace: "ws-" + uuid.NewString()[:8],
		Record:    event.Values(map[string]any{"id": "opp-42", "name": "Jane Smith", "email": "jane@example.com", "amount": 1200}),
		Changes:   map[string]event.Change{"stage": event.ChangeOf("qualification", "proposal")},
	}
}

func codes(cs ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(cs[min(n, len(cs))-1])
		_, _ = w.Write([]byte(`{"ok":` + strconv.FormatBool(cs[min(n, len(cs))-1] < 300) + `}`))
	}
}

func publishWait(t *testing.T, in workflows.EventInput) publisher.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := pub.Publish(ctx, in)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if r.Duplicate {
		t.Fatalf("fresh event reported as duplicate")
	}
	o, err := pub.Wait(ctx, in.Event.Workspace, r.EventID)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return o
}

// The retry schedule, headers and signature as a real receiver sees them.
func TestRetryScheduleHeadersAndSignature(t *testing.T) {
	rc := devtest.NewReceiver(t, codes(500, 500, 500, 200))
	ev := newEvent()
	fields := []string{"name", "amount"}
	o := publishWait(t, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "crm-sync", URL: rc.URL + "/hooks/hari", Secret: secret, Fields: fields}}})

	d := o.Deliveries[0]
	if d.Status != workflows.StatusDelivered {
		t.Fatalf("status: got %s, want delivered (%s)", d.Status, d.Error)
	}
	hits := rc.Hits()
	if len(hits) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(hits))
	}
	if len(d.Attempts) != 4 {
		t.Fatalf("attempt log holds %d attempts, want 4: %+v", len(d.Attempts), d.Attempts)
	}
	wantGaps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, want := range wantGaps {
		got := hits[i+1].At.Sub(hits[i].At)
		if got < want-100*time.Millisecond || got > want+900*time.Millisecond {
			t.Errorf("gap before attempt %d: got %s, want %s (+0.9 s tolerance)", i+2, got, want)
		}
	}
	want, err := payload.Build(ev, fields)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hits {
		if string(h.Body) != string(want) {
			t.Errorf("attempt %d body:\n got %s\nwant %s", i+1, h.Body, want)
		}
		checks := map[string]string{
			"Content-Type":            "application/json",
			"User-Agent":              activities.UserAgent,
			signature.HeaderID:        ev.ID + ":crm-sync",
			signature.HeaderEvent:     "stage.changed",
			signature.HeaderAttempt:   strconv.Itoa(i + 1),
			signature.HeaderSecret:    secret,
			signature.HeaderSignature: signature.Sign(secret, want),
		}
		for k, v := range checks {
			if got := h.Header.Get(k); got != v {
				t.Errorf("attempt %d header %s: got %q, want %q", i+1, k, got, v)
			}
		}
		if !signature.VerifyRequest(secret, h.Header, h.Body) {
			t.Errorf("attempt %d: signature does not verify against the received body", i+1)
		}
		if a := d.Attempts[i]; a.Number != i+1 || (i < 3 && a.StatusCode != 500) || (i == 3 && a.StatusCode != 200) {
			t.Errorf("attempt record %d: got number %d status %d", i+1, a.Number, a.StatusCode)
		}
	}
	var rec map[string]any
	_ = json.Unmarshal(hits[0].Body, &rec)
	if _, ok := rec["record"].(map[string]any)["email"]; ok {
		t.Errorf("unselected field email was sent: %s", hits[0].Body)
	}
}

func TestFourOhFourStopsAtOnce(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(404, 200))
	o := publishWait(t, workflows.EventInput{Event: newEvent(), Targets: []endpoint.Target{{ID: "gone", URL: rc.URL}}})
	d := o.Deliveries[0]
	if d.Status != workflows.StatusFailed || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 404 {
		t.Fatalf("got %s with %d attempts (%+v), want failed after one 404", d.Status, len(d.Attempts), d.Attempts)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(rc.Hits()); n != 1 {
		t.Errorf("receiver got %d requests, want 1 (no retry after 404)", n)
	}
}

func TestFailsAfterFourAttemptsWithEveryAttemptInHistory(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(503))
	ev := newEvent()
	o := publishWait(t, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "down", URL: rc.URL, Secret: secret}}})
	d := o.Deliveries[0]
	if d.Status != workflows.StatusFailed || len(d.Attempts) != 4 {
		t.Fatalf("got %s with %d attempts, want failed with 4", d.Status, len(d.Attempts))
	}
	if n := len(rc.Hits()); n != 4 {
		t.Errorf("receiver got %d requests, want 4", n)
	}

	// What the Web UI shows: the history, decoded through the codec.
	events := history(t, workflows.WorkflowID(ev.Workspace, ev.ID))
	var failedLog []delivery.Attempt
	var marker bool
	dc := codec.DataConverter(srv.Keys)
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			marker = true
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			f := e.GetActivityTaskFailedEventAttributes().GetFailure()
			details := f.GetApplicationFailureInfo().GetDetails()
			if err := dc.FromPayloads(details, &failedLog); err != nil {
				t.Fatalf("decode failure details: %v", err)
			}
		}
	}
	if !marker {
		t.Error("history has no marker for the first attempt")
	}
	if len(failedLog) != 4 {
		t.Fatalf("the failed activity's details hold %d attempts, want 4", len(failedLog))
	}
	for i, a := range failedLog {
		if a.Number != i+1 || a.StatusCode != 503 || a.StartedAt.IsZero() {
			t.Errorf("history attempt %d: %+v", i+1, a)
		}
	}

	// Nothing in the stored history is plaintext: no secret, no record field.
	// (Binary protobuf, so payload bytes are searched as stored, not base64.)
	var raw []byte
	for _, e := range events {
		b, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if !strings.Contains(string(raw), workflows.DeliverActivityID("down")) {
		t.Fatal("history search is broken: the activity ID is not found either")
	}
	for _, s := range []string{secret, "Jane Smith", "jane@example.com"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("stored history contains %q in plaintext", s)
		}
	}
}

func TestShowWhileRetrying(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(500))
	ev := newEvent()
	ctx := context.Background()
	r, err := pub.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "flaky", URL: rc.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	rc.WaitHits(t, 3, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // let attempt 3 record its log
	o, err := pub.Show(ctx, ev.Workspace, r.EventID)
	if err != nil {
		t.Fatal(err)
	}
	d := o.Deliveries[0]
	if d.Status != workflows.StatusPending {
		t.Errorf("status while retrying: got %s, want pending", d.Status)
	}
	if len(d.Attempts) != 3 {
		t.Fatalf("attempts visible while retrying: got %d, want 3: %+v", len(d.Attempts), d.Attempts)
	}
	for i, a := range d.Attempts {
		if a.Number != i+1 || a.StatusCode != 500 {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	if _, err := pub.Wait(ctx, ev.Workspace, r.EventID); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicatePublishDeliversOnce(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	in := workflows.EventInput{Event: newEvent(), Targets: []endpoint.Target{{ID: "once", URL: rc.URL}}}
	ctx := context.Background()
	first, err := pub.Publish(ctx, in)
	if err != nil || first.Duplicate {
		t.Fatalf("first publish: %+v, %v", first, err)
	}
	if _, err := pub.Wait(ctx, in.Event.Workspace, first.EventID); err != nil {
		t.Fatal(err)
	}
	second, err := pub.Publish(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Duplicate || second.WorkflowID != first.WorkflowID {
		t.Errorf("second publish: got %+v, want a duplicate of %s", second, first.WorkflowID)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(rc.Hits()); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
}

func TestInvalidInputStartsNothing(t *testing.T) {
	t.Parallel()
	ev := newEvent()
	ev.Timestamp = "31/03/2026"
	_, err := pub.Publish(context.Background(), workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "x", URL: "https://127.0.0.1:1"}}})
	if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("got %v, want an RFC 3339 timestamp error", err)
	}
	plain := newEvent()
	_, err = pub.Publish(context.Background(), workflows.EventInput{Event: plain, Targets: []endpoint.Target{{ID: "x", URL: "http://127.0.0.1:1/hook"}}})
	if !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), "https") {
		t.Fatalf("got %v, want an https error", err)
	}
	for _, e := range []event.Event{ev, plain} {
		if _, err := pub.Show(context.Background(), e.Workspace, e.ID); !errors.Is(err, publisher.ErrNotFound) {
			t.Errorf("event %s: got %v, want ErrNotFound (nothing started)", e.ID, err)
		}
	}
}

func history(t *testing.T, workflowID string) []*historypb.HistoryEvent {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
