package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// A record value with <, > and & arrives as written on a real delivery
// (whose values pass through Temporal's JSON data converter) and on a Test
// fire: the same bytes on both paths (issue 10, item 6).
func TestHTMLCharactersArriveUnescapedOnBothPaths(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	spec := `{"name": "escaping", "entity": "opportunity", "events": ["record.updated"],
	 "conditions": [{"field": "name", "op": "equals", "value": "a<b&c>"}], "url": "` + rc.URL + `", "fields": ["name"]}`
	var v view
	if code, body := c.do("POST", c.hooks(), spec, &v); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := c.do("POST", c.hooks()+"/"+v.ID+"/test-fire", "", nil); code != http.StatusOK {
		t.Fatalf("test fire: %d %s", code, body)
	}
	ev := `{"event": "record.updated", "entity": "opportunity", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + c.ws + `",
	 "record": {"id": "opp-1", "name": "a<b&c>"}, "changes": {"name": {"old": "x&y", "new": "a<b&c>"}}}`
	if code, body := c.do("POST", c.events(), ev, nil); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	hits := rc.WaitHits(t, 2, 30*time.Second)
	const want = `"name":"a<b&c>"`
	for i, h := range hits[:2] {
		path := []string{"Test fire", "real delivery"}[i]
		if !strings.Contains(string(h.Body), want) || strings.Contains(string(h.Body), `\u00`) {
			t.Errorf("%s: body %s, want %s with no \\u escapes", path, h.Body, want)
		}
	}
	if !strings.Contains(string(hits[1].Body), `"changes":{"name":{"old":"x&y","new":"a<b&c>"}}`) {
		t.Errorf("real delivery: changes in %s are not as published", hits[1].Body)
	}
}

// Every webhook of an event is findable in its execution log: here the
// 100th and the last of 101 webhooks an event is routed to (HariWebhookIDs
// alone held about 81).
func TestExecutionLogFindsTheHundredthWebhook(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rc := devtest.NewReceiver(t, nil)
	ws := "log-" + newEvent().ID[:8]
	const n = 101
	ids := make([]string, n)
	for i := range ids {
		spec := webhook.Spec{Config: webhook.Config{Name: fmt.Sprintf("hook %03d with a long enough name", i), Entity: "opportunity",
			Events: []event.Type{event.StageChanged}, URL: fmt.Sprintf("%s/hooks/%03d", rc.URL, i)}}
		v, err := reg.Create(ctx, ws, spec)
		if err != nil {
			t.Fatalf("create webhook %d: %v", i, err)
		}
		ids[i] = v.ID
	}
	ev := newEvent()
	ev.Workspace = ws
	r, err := pub.Publish(ctx, workflows.EventInput{Event: ev})
	if err != nil || r.Matched != n {
		t.Fatalf("publish: got %+v, %v; want %d matched", r, err, n)
	}
	o, err := pub.Wait(ctx, ws, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range o.Deliveries {
		if d.Status != workflows.StatusDelivered {
			t.Fatalf("delivery %s: %s (%s)", d.WebhookID, d.Status, d.Error)
		}
	}
	for _, i := range []int{0, 99, n - 1} {
		id := ids[i]
		var log []publisherLogEntry
		deadline := time.Now().Add(30 * time.Second) // visibility is eventually consistent
		for time.Now().Before(deadline) {
			entries, err := pub.Deliveries(ctx, ws, id, 5)
			if err != nil {
				t.Fatalf("log of webhook %d: %v", i+1, err)
			}
			log = log[:0]
			for _, e := range entries {
				log = append(log, publisherLogEntry{EventID: e.EventID, WebhookID: e.Delivery.WebhookID, Status: e.Delivery.Status})
			}
			if len(log) > 0 {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if len(log) != 1 || log[0].EventID != ev.ID || log[0].WebhookID != id || log[0].Status != workflows.StatusDelivered {
			t.Errorf("log of webhook %d (%s): got %+v, want the delivered event %s", i+1, id, log, ev.ID)
		}
	}
}

type publisherLogEntry struct{ EventID, WebhookID, Status string }

// A webhook ID with quotes and a backslash (allowed in direct targets)
// finds its deliveries in the log: no raw quote enters the visibility query.
func TestExecutionLogWithQuotesInWebhookID(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc := devtest.NewReceiver(t, nil)
	ev := newEvent()
	const id = `o'neil\"x`
	other := newEvent()
	other.Workspace = ev.Workspace
	for _, e := range []struct {
		ev  event.Event
		tid string
	}{{ev, id}, {other, "plain"}} {
		if _, err := pub.Publish(ctx, workflows.EventInput{Event: e.ev, Targets: []endpoint.Target{{ID: e.tid, URL: rc.URL}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Wait(ctx, ev.Workspace, e.ev.ID); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := pub.Deliveries(ctx, ev.Workspace, id, 10)
		if err != nil {
			t.Fatalf("log: %v", err)
		}
		if len(entries) == 1 && entries[0].EventID == ev.ID && entries[0].Delivery.WebhookID == id {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %q: got %+v, want only event %s", id, entries, ev.ID)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// An event started by a raw Temporal client (another SDK) sets no search
// attributes; the workflow's own upsert lists every key, so the execution
// log finds it too (the id holds a quote, so only HariWebhookKeys can
// match it).
func TestExecutionLogForAnEventStartedWithoutSearchAttributes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc := devtest.NewReceiver(t, nil)
	ev := newEvent()
	const id = `raw'client`
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(ev.Workspace, ev.ID), TaskQueue: workflows.TaskQueue},
		workflows.EventWorkflowName, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: id, URL: rc.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.EventResult
	if err := run.Get(ctx, &res); err != nil || len(res.Deliveries) != 1 || res.Deliveries[0].Status != workflows.StatusDelivered {
		t.Fatalf("got %+v, %v; want one delivered", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := pub.Deliveries(ctx, ev.Workspace, id, 5)
		if err != nil {
			t.Fatalf("log: %v", err)
		}
		if len(entries) == 1 && entries[0].EventID == ev.ID && entries[0].Delivery.Status == workflows.StatusDelivered {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s: got %+v, want event %s delivered", id, entries, ev.ID)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
