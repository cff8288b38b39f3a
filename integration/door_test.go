package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

const doorSecret = "hari_door_secret_0001"

// rawStart starts WebhookEvent as any Temporal client following the
// polyglot contract does: type, task queue, workflow ID and input, with
// none of the publisher's checks, routing or search attributes.
func rawStart(t *testing.T, c client.Client, queue string, input any, ws, eventID string) client.WorkflowRun {
	t.Helper()
	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(ws, eventID),
		TaskQueue:                queue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.EventWorkflowName, input)
	if err != nil {
		t.Fatalf("raw start: %v", err)
	}
	return run
}

// deliveryStatus reads the event's HariDeliveryStatus search attribute.
func deliveryStatus(t *testing.T, ws, eventID string) string {
	t.Helper()
	desc, err := tc.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(ws, eventID), "")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SearchStatus.GetName()]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		t.Fatalf("decode %s: %v", workflows.SearchStatus.GetName(), err)
	}
	return s
}

// doorWebhook creates, in a fresh workspace, an active webhook with a
// secret for stage.changed events on opportunities.
func doorWebhook(t *testing.T, rc *devtest.Receiver) (string, webhook.View) {
	t.Helper()
	ws := "door-" + newEvent().ID[:8]
	secret := doorSecret
	v, err := reg.Create(context.Background(), ws, webhook.Spec{Config: webhook.Config{Name: "door", Entity: "opportunity",
		Events: []event.Type{event.StageChanged}, URL: rc.URL + "/door", Fields: []string{"name", "amount"}}, Secret: &secret})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	return ws, v
}

// An event started through a raw Go client with only the event reaches
// the matching webhook, signed with its secret (sealed in the registry,
// opened by the worker); events that match nothing end visibly "no match".
func TestRawClientEventIsRoutedByItsWorkflow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc := devtest.NewReceiver(t, nil)
	ws, wh := doorWebhook(t, rc)

	ev := newEvent()
	ev.Workspace = ws
	var res workflows.EventResult
	if err := rawStart(t, tc, workflows.TaskQueue, map[string]any{"event": ev}, ws, ev.ID).Get(ctx, &res); err != nil {
		t.Fatalf("event workflow: %v", err)
	}
	if res.NoMatch || len(res.Deliveries) != 1 || res.Deliveries[0].WebhookID != wh.ID || res.Deliveries[0].Status != workflows.StatusDelivered {
		t.Fatalf("result: got %+v, want one delivery to %s, delivered", res, wh.ID)
	}
	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("receiver requests: got %d, want 1", len(hits))
	}
	if !signature.VerifyRequest(doorSecret, hits[0].Header, hits[0].Body) {
		t.Error("X-Webhook-Signature does not verify with the webhook's secret")
	}
	if err := signature.VerifyStandard(doorSecret, hits[0].Header, hits[0].Body, signature.DefaultTolerance, time.Now()); err != nil {
		t.Errorf("webhook-signature: %v", err)
	}
	if got, want := hits[0].Header.Get(signature.HeaderID), workflows.DeliveryID(ev.ID, wh.ID); got != want {
		t.Errorf("X-Webhook-Id: got %q, want %q", got, want)
	}
	if strings.Contains(string(hits[0].Body), "jane@example.com") || !strings.Contains(string(hits[0].Body), "Jane Smith") {
		t.Errorf("body: got %s, want the webhook's field selection (name, amount)", hits[0].Body)
	}
	if got := deliveryStatus(t, ws, ev.ID); got != workflows.StatusDelivered {
		t.Errorf("HariDeliveryStatus: got %q, want %q", got, workflows.StatusDelivered)
	}
	o, err := pub.Show(ctx, ws, ev.ID)
	if err != nil || !o.Done || o.NoMatch || len(o.Deliveries) != 1 || o.Deliveries[0].Status != workflows.StatusDelivered {
		t.Errorf("show: got %+v, %v; want done with one delivered", o, err)
	}

	// A redelivery finds the webhook the workflow routed the event to
	// (not in the input): the same body bytes, signed again.
	if _, err := pub.Redeliver(ctx, ws, wh.ID, workflows.DeliveryID(ev.ID, wh.ID), publisher.RedeliverOptions{}); err != nil {
		t.Fatalf("redeliver: %v", err)
	}
	again := rc.WaitHits(t, 2, 30*time.Second)[1]
	if string(again.Body) != string(hits[0].Body) || !signature.VerifyRequest(doorSecret, again.Header, again.Body) {
		t.Errorf("redelivery: got body %s (signature valid: %v), want the original bytes, signed", again.Body, signature.VerifyRequest(doorSecret, again.Header, again.Body))
	}

	for _, tt := range []struct {
		name string
		ev   func() event.Event
	}{
		{"an event type the webhook does not take", func() event.Event {
			e := newEvent()
			e.Workspace, e.Type, e.Changes = ws, event.RecordCreated, nil
			return e
		}},
		{"a workspace without a registry", func() event.Event { return newEvent() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.ev()
			var res workflows.EventResult
			if err := rawStart(t, tc, workflows.TaskQueue, workflows.EventInput{Event: e}, e.Workspace, e.ID).Get(ctx, &res); err != nil {
				t.Fatalf("event workflow: %v", err)
			}
			if !res.NoMatch || len(res.Deliveries) != 0 {
				t.Errorf("result: got no_match=%v with %d deliveries, want no_match=true with 0", res.NoMatch, len(res.Deliveries))
			}
			if got := deliveryStatus(t, e.Workspace, e.ID); got != workflows.StatusNoMatch {
				t.Errorf("HariDeliveryStatus: got %q, want %q", got, workflows.StatusNoMatch)
			}
			o, err := pub.Show(ctx, e.Workspace, e.ID)
			if err != nil || !o.Done || !o.NoMatch {
				t.Errorf("show: got %+v, %v; want done and no_match", o, err)
			}
		})
	}
	if n := len(rc.Hits()); n != 2 {
		t.Errorf("receiver requests after the unmatched events: got %d, want still 2", n)
	}
}

// With the worker binary as deployed (HARI_ALLOW_DIRECT_TARGETS unset):
// a raw start with a direct target and a plaintext secret is refused
// visibly (the delivery fails with the reason, nothing is sent), the
// worker's API refuses such a publish by name, and `starter show` says
// "no match" for a raw start that matched nothing.
func TestDirectTargetsRefusedByDefault(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc).withEnv("HARI_ALLOW_DIRECT_TARGETS=")
	w := e.startWorker()

	ev := newEvent()
	in := workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "direct", URL: rc.URL + "/direct", Secret: doorSecret}}}
	var res workflows.EventResult
	if err := rawStart(t, tc, e.queue(), in, ev.Workspace, ev.ID).Get(ctx, &res); err != nil {
		t.Fatalf("event workflow: %v", err)
	}
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != workflows.StatusFailed || !strings.Contains(res.Deliveries[0].Error, "direct target refused") ||
		!strings.Contains(res.Deliveries[0].Error, "HARI_ALLOW_DIRECT_TARGETS") || len(res.Deliveries[0].Attempts) != 0 {
		t.Fatalf("result: got %+v, want one failed delivery, no attempt, refused naming HARI_ALLOW_DIRECT_TARGETS", res)
	}
	if strings.Contains(res.Deliveries[0].Error, doorSecret) {
		t.Error("the refusal quotes the secret")
	}
	if got := deliveryStatus(t, ev.Workspace, ev.ID); got != workflows.StatusFailed {
		t.Errorf("HariDeliveryStatus: got %q, want %q", got, workflows.StatusFailed)
	}

	// The worker's API knows the setting: a 400 naming the field.
	body := fmt.Sprintf(`{"event":"stage.changed","entity":"opportunity","timestamp":"2026-03-31T14:30:00Z","workspace":%q,"record":{"id":"r1"},
		"changes":{"stage":{"old":"a","new":"b"}},"targets":[{"id":"direct","url":%q,"secret":%q}]}`, ev.Workspace, rc.URL+"/api", doorSecret)
	resp, err := http.Post("http://"+w.addr+"/api/v1/workspaces/"+ev.Workspace+"/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var apiErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&apiErr)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(apiErr.Error.Message, "target direct: secret") {
		t.Errorf("API publish with a direct secret: got %d %+v, want 400 naming target direct: secret", resp.StatusCode, apiErr)
	}

	// `starter publish` refuses it too, up front, unless its own
	// environment allows direct targets: nothing starts, nothing is sent.
	sid := uuid.NewString()
	if _, stderr, code := e.starterRun(eventFile(sid, rc.URL+"/starter"), "publish", "--file", "-"); code != 2 || !strings.Contains(stderr, "target cli-hook: secret") {
		t.Errorf("starter publish with a direct secret: got exit %d, %q, want 2 naming target cli-hook: secret", code, stderr)
	}
	if _, err := tc.DescribeWorkflowExecution(ctx, workflows.WorkflowID("cli", sid), ""); err == nil {
		t.Errorf("starter publish refused, yet workflow %s exists", workflows.WorkflowID("cli", sid))
	}

	// A raw start that matches nothing, seen through `starter show`.
	nm := newEvent()
	if err := rawStart(t, tc, e.queue(), workflows.EventInput{Event: nm}, nm.Workspace, nm.ID).Get(ctx, nil); err != nil {
		t.Fatalf("event workflow: %v", err)
	}
	out, errOut, code := e.starterRun("", "show", "--workspace", nm.Workspace, "--event", nm.ID)
	if code != 0 || !strings.Contains(out, "no match") {
		t.Errorf("starter show: got exit %d, %q (%s), want 0 and \"no match\"", code, out, errOut)
	}
	out, _, _ = e.starterRun("", "show", "--workspace", nm.Workspace, "--event", nm.ID, "--json")
	var o struct {
		NoMatch bool `json:"no_match"`
		Done    bool `json:"done"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil || !o.NoMatch || !o.Done {
		t.Errorf("starter show --json: got %s (%v), want done and no_match true", out, err)
	}
	if n := len(rc.Hits()); n != 0 {
		t.Errorf("receiver requests: got %d, want 0", n)
	}
}

// exportedHistory returns `temporal workflow show --output json` of the
// workflow as printed plus every base64 "data" field decoded, and the
// number of payloads encrypted with the codec.
func exportedHistory(t *testing.T, workflowID string) (string, int) {
	t.Helper()
	cli, err := devtest.TemporalPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cli, "workflow", "show", "--address", srv.HostPort, "-w", workflowID, "--output", "json").Output()
	if err != nil {
		t.Fatalf("temporal workflow show: %v", err)
	}
	var export struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(out, &export); err != nil || len(export.Events) < 3 {
		t.Fatalf("export: %v (%d events)", err, len(export.Events))
	}
	text := string(out)
	encrypted := 0
	walk(export.Events, func(m map[string]any) {
		if d, ok := m["data"].(string); ok {
			if raw, err := base64.StdEncoding.DecodeString(d); err == nil {
				text += "\n" + string(raw)
			}
			if md, ok := m["metadata"].(map[string]any); ok && md["encoding"] == base64.StdEncoding.EncodeToString([]byte(codec.EncodingEncrypted)) {
				encrypted++
			}
		}
	})
	return text, encrypted
}

// The contract from a second SDK: scripts/node-client/start-event.mjs (the
// README's snippet) starts WebhookEvent with only the event, through the
// JavaScript Temporal client and its own AES-256-GCM codec. The matching
// webhook gets the payload signed with its secret, and the exported
// history holds no plaintext. node and npm are required: a machine without
// them fails this test (.ci/run installs them and runs npm ci).
func TestNodeClientStartsAnEventWithOnlyTheEvent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (.ci/run installs nodejs and npm): %v", err)
	}
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "scripts", "node-client")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@temporalio", "client")); err != nil {
		t.Fatalf("the node client's packages are not installed: run `npm ci --prefix scripts/node-client` (.ci/run and make test do): %v", err)
	}
	rc := devtest.NewReceiver(t, nil)
	ws, wh := doorWebhook(t, rc)
	ev := newEvent()
	ev.Workspace = ws
	file := filepath.Join(t.TempDir(), "event.json")
	b, _ := json.Marshal(ev)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "start-event.mjs"), file, "--wait")
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+srv.HostPort, "HARI_CODEC_KEYS="+srv.KeySpec)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node start-event.mjs: %v\n%s%s", err, out, stderr)
	}
	var started struct {
		WorkflowID string                `json:"workflow_id"`
		Result     workflows.EventResult `json:"result"`
	}
	if err := json.Unmarshal(out, &started); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if want := workflows.WorkflowID(ws, ev.ID); started.WorkflowID != want {
		t.Errorf("workflow id: got %q, want %q", started.WorkflowID, want)
	}
	if r := started.Result; len(r.Deliveries) != 1 || r.Deliveries[0].WebhookID != wh.ID || r.Deliveries[0].Status != workflows.StatusDelivered {
		t.Fatalf("result read by the node client: got %+v, want one delivery to %s, delivered", r, wh.ID)
	}
	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("receiver requests: got %d, want 1", len(hits))
	}
	if !signature.VerifyRequest(doorSecret, hits[0].Header, hits[0].Body) {
		t.Error("X-Webhook-Signature does not verify with the webhook's secret")
	}
	if !strings.Contains(string(hits[0].Body), `"name":"Jane Smith"`) {
		t.Errorf("body: got %s, want the event's record name", hits[0].Body)
	}
	text, encrypted := exportedHistory(t, started.WorkflowID)
	for _, s := range []string{doorSecret, "Jane Smith", "jane@example.com", rc.URL} {
		if strings.Contains(text, s) {
			t.Errorf("the exported history holds %q in plaintext", s)
		}
	}
	if encrypted < 2 {
		t.Errorf("encrypted payloads in the export: got %d, want the input and the result at least", encrypted)
	}
}
