package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

// The secret oracle of issue 11, finding 1, against the real dev server,
// the real worker and real HTTPS receivers. An attacker who can read a
// decoded registry state (the Web UI shows it) copies the victim's sealed
// secret into everything they can publish. Their receiver must never get
// the plaintext or a signature made with the victim's secret; the API and
// the publisher refuse the sealed fields by name; the worker refuses what
// a raw Temporal client sends.
func TestAttackStolenSealedSecretOpensNowhereElse(t *testing.T) {
	t.Parallel()
	const victimSecret = "hari_registry_secret" // closedWon's secret
	victim, attacker := newAPI(t), newAPI(t)
	victimRC := devtest.NewReceiver(t, nil)
	evil := devtest.NewReceiver(t, nil)

	var wh view
	if code, body := victim.do("POST", victim.hooks(), fmtURL(closedWon, victimRC.URL), &wh); code != http.StatusCreated {
		t.Fatalf("victim's create: %d %s", code, body)
	}
	stolen := sealedFromRegistryHistory(t, victim.ws, wh.ID)
	if !strings.HasPrefix(stolen, codec.SealPrefix) || strings.Contains(stolen, victimSecret) {
		t.Fatalf("the registry holds %q, want an opaque v3 seal", stolen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// 1. The HTTP API: a direct target with sealed fields is a 400 naming
	// the key, and nothing starts.
	for _, key := range endpoint.RouterOnlyKeys {
		value := `"` + stolen + `"`
		if key == "previous_until" {
			value = `"2030-01-01T00:00:00Z"`
		}
		body := strings.TrimSuffix(strings.TrimSpace(oppEvent(attacker.ws, "Closed Won")), "}") +
			`, "targets": [{"id": "steal", "url": "` + evil.URL + `", "` + key + `": ` + value + `}]}`
		var e apiError
		if code, raw := attacker.do("POST", attacker.events(), body, &e); code != http.StatusBadRequest || e.Error.Field != key || !strings.Contains(e.Error.Message, "only by the webhook registry") {
			t.Errorf("API publish with %s: got %d %s, want 400 naming %s", key, code, raw, key)
		}
		// 2. The CLI's parser refuses it the same way.
		if _, err := publisher.ParseMessage([]byte(body)); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("ParseMessage with %s: got %v, want an error naming %s", key, err, key)
		}
	}

	// 3. The Go API cannot express a sealed direct target, and refuses
	// routed targets from its callers.
	ev := newEvent()
	ev.Workspace = attacker.ws
	_, err := pub.Publish(ctx, workflows.EventInput{Event: ev, Routed: []endpoint.Routed{{ID: wh.ID, URL: evil.URL, SealedSecret: stolen}}})
	if !errors.Is(err, endpoint.ErrInvalid) || !strings.Contains(err.Error(), "routed") {
		t.Errorf("Go API publish with routed targets: got %v, want a refusal naming routed", err)
	}

	// 4. A raw Temporal client starts the workflow itself.
	raw := func(name string, ws string, in map[string]any, wantErr string) {
		t.Helper()
		e := newEvent()
		e.Workspace = ws
		in["event"] = e
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(e.Workspace, e.ID), TaskQueue: workflows.TaskQueue}, workflows.EventWorkflowName, in)
		if err != nil {
			t.Fatalf("%s: raw start: %v", name, err)
		}
		var res workflows.EventResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Deliveries) != 1 || res.Deliveries[0].Status != workflows.StatusFailed || !strings.Contains(res.Deliveries[0].Error, wantErr) {
			t.Errorf("%s: got %+v, want one failed delivery saying %q", name, res.Deliveries, wantErr)
		}
	}
	raw("sealed_secret in a direct target", attacker.ws,
		map[string]any{"targets": []map[string]any{{"id": "steal", "url": evil.URL, "sealed_secret": stolen}}},
		"sealed_secret: a direct target cannot carry a sealed secret")
	raw("routed target in the attacker's workspace", attacker.ws,
		map[string]any{"routed": []map[string]any{{"id": wh.ID, "url": evil.URL, "sealed_secret": stolen}}},
		"cannot be opened")
	raw("routed target in the victim's workspace under another id", victim.ws,
		map[string]any{"routed": []map[string]any{{"id": "wh_evil", "url": evil.URL, "sealed_secret": stolen}}},
		"cannot be opened")
	// Issue 11 review, finding 1: the victim's workspace and webhook id,
	// the attacker's URL. The seal is bound to the victim's URL.
	raw("routed target with the victim's workspace and webhook id and another URL", victim.ws,
		map[string]any{"routed": []map[string]any{{"id": wh.ID, "url": evil.URL + "/steal", "sealed_secret": stolen}}},
		"cannot be opened")

	// 4b. The same start from a client WITHOUT the codec (plain JSON, as
	// `temporal workflow start --input` sends it): the worker refuses the
	// plaintext input, so the workflow fails before it reads a target.
	plain, err := client.Dial(client.Options{HostPort: srv.HostPort, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pe := newEvent()
	pe.Workspace = victim.ws
	plainID := workflows.WorkflowID(pe.Workspace, pe.ID)
	run, err := plain.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: plainID, TaskQueue: workflows.TaskQueue}, workflows.EventWorkflowName,
		map[string]any{"event": pe, "routed": []map[string]any{{"id": wh.ID, "url": evil.URL + "/steal", "sealed_secret": stolen}}})
	if err != nil {
		t.Fatalf("plain start: %v", err)
	}
	// Read the outcome through the codec (the failure message is sealed).
	const wantPlain = "payload is not encrypted with the HARi codec; start workflows through a client with the codec"
	if err := tc.GetWorkflow(ctx, plainID, run.GetRunID()).Get(ctx, nil); err == nil || !strings.Contains(err.Error(), wantPlain) {
		t.Errorf("plain start: got %v, want the workflow failed with %q", err, wantPlain)
	}

	// 5. The attacker plants the stolen seal in a webhook of their own
	// workspace (a raw registry update), then publishes a matching event
	// and Test fires it through the API.
	plant := workflows.WriteRequest{ID: "wh_planted", Secret: &workflows.SealedSecret{Sealed: stolen, Hint: "********"}}
	if err := json.Unmarshal([]byte(fmtURL(closedWon, evil.URL)), &plant.Config); err != nil {
		t.Fatal(err)
	}
	bootstrap := strings.Replace(strings.Replace(fmtURL(closedWon, "https://127.0.0.1:1/x"), "Closed Won to ERP", "bootstrap", 1), `"fields"`, `"active": false, "fields"`, 1)
	if code, body := attacker.do("POST", attacker.hooks(), bootstrap, nil); code != http.StatusCreated {
		t.Fatalf("attacker's own webhook: %d %s", code, body)
	}
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.RegistryWorkflowID(attacker.ws), UpdateName: workflows.UpdateCreate,
		Args: []any{plant}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		t.Fatalf("plant the stolen seal: %v", err)
	}
	var receipt publisher.Receipt
	if code, body := attacker.do("POST", attacker.events(), oppEvent(attacker.ws, "Closed Won"), &receipt); code != http.StatusAccepted || receipt.Matched != 1 {
		t.Fatalf("attacker's publish: %d %s, want one matched webhook", code, body)
	}
	o, err := pub.Wait(ctx, attacker.ws, receipt.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if d := o.Deliveries[0]; d.WebhookID != "wh_planted" || d.Status != workflows.StatusFailed || !strings.Contains(d.Error, "cannot be opened") {
		t.Errorf("delivery with the planted seal: got %+v, want failed: cannot be opened", d)
	}
	var tr testResult
	if code, body := attacker.do("POST", attacker.hooks()+"/wh_planted/test-fire", "", &tr); code != http.StatusOK || tr.StatusCode != 0 || !strings.Contains(tr.Error, "cannot be opened") {
		t.Errorf("Test fire with the planted seal: got %d %s, want an error: cannot be opened", code, body)
	}

	// The attacker's receiver got nothing at all: no plaintext, no
	// signature under the victim's secret.
	for _, hit := range evil.Hits() {
		if hit.Header.Get(signature.HeaderSecret) == victimSecret || signature.VerifyRequest(victimSecret, hit.Header, hit.Body) {
			t.Errorf("the attacker's receiver got the victim's secret or a valid signature: %v", hit.Header)
		}
	}
	if n := len(evil.Hits()); n != 0 {
		t.Errorf("the attacker's receiver got %d requests, want 0", n)
	}

	// The seal still works where it belongs: the victim's own event is
	// delivered signed.
	if code, body := victim.do("POST", victim.events(), oppEvent(victim.ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("victim's publish: %d %s", code, body)
	}
	got := victimRC.WaitHits(t, 1, 20*time.Second)[0]
	if !signature.VerifyRequest(victimSecret, got.Header, got.Body) {
		t.Error("the victim's own delivery does not verify with the victim's secret")
	}
}

// sealedFromRegistryHistory reads a webhook's sealed secret the way an
// engineer sees it in the Web UI: the registry's history, decoded by the
// codec (the create update's argument).
func sealedFromRegistryHistory(t *testing.T, ws, id string) string {
	t.Helper()
	dc := codec.DataConverter(srv.Keys)
	it := tc.GetWorkflowHistory(context.Background(), workflows.RegistryWorkflowID(ws), "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes()
		if a == nil {
			continue
		}
		var req workflows.WriteRequest
		if err := dc.FromPayloads(a.GetAcceptedRequest().GetInput().GetArgs(), &req); err != nil {
			continue
		}
		if req.ID == id && req.Secret != nil {
			return req.Secret.Sealed
		}
	}
	t.Fatalf("no sealed secret of %s in the history of workspace %s", id, ws)
	return ""
}

// secret_header false: deliveries and Test fire carry the signatures but
// not X-Webhook-Secret; the choice shows in reads and survives an update
// that leaves it out.
func TestSecretHeaderOptOut(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	spec := strings.Replace(fmtURL(closedWon, rc.URL), `"secret":`, `"secret_header": false, "secret":`, 1)
	var wh struct {
		view
		SecretHeader bool `json:"secret_header"`
	}
	if code, body := c.do("POST", c.hooks(), spec, &wh); code != http.StatusCreated || wh.SecretHeader {
		t.Fatalf("create: %d %s, want secret_header false", code, body)
	}
	var dflt struct {
		SecretHeader bool `json:"secret_header"`
	}
	if code, body := c.do("POST", c.hooks(), strings.Replace(fmtURL(closedWon, rc.URL+"/2"), "Closed Won to ERP", "default", 1), &dflt); code != http.StatusCreated || !dflt.SecretHeader {
		t.Fatalf("create without the option: %d %s, want secret_header true", code, body)
	}
	// An update that leaves the option out keeps it.
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, fmtURL(closedWon, rc.URL), &wh); code != http.StatusOK || wh.SecretHeader {
		t.Fatalf("update: %d %s, want secret_header still false", code, body)
	}
	var tr testResult
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/test-fire", "", &tr); code != http.StatusOK || tr.StatusCode != 200 {
		t.Fatalf("test fire: %d %s", code, body)
	}
	var receipt publisher.Receipt
	if code, body := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &receipt); code != http.StatusAccepted || receipt.Matched != 2 {
		t.Fatalf("publish: %d %s, want two matches", code, body)
	}
	hits := rc.WaitHits(t, 3, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	hits = rc.Hits()
	var opted, defaulted int
	for _, h := range hits {
		if !signature.VerifyRequest("hari_registry_secret", h.Header, h.Body) {
			t.Errorf("request %s: the signature does not verify", h.Header.Get(signature.HeaderID))
		}
		if err := signature.VerifyStandard("hari_registry_secret", h.Header, h.Body, signature.DefaultTolerance, time.Now()); err != nil {
			t.Errorf("request %s: webhook-signature: %v", h.Header.Get(signature.HeaderID), err)
		}
		_, hasSecret := h.Header[signature.HeaderSecret]
		if strings.HasSuffix(h.Header.Get(signature.HeaderID), ":"+wh.ID) {
			opted++
			if hasSecret {
				t.Errorf("request %s of the opted-out webhook carries X-Webhook-Secret", h.Header.Get(signature.HeaderID))
			}
		} else {
			defaulted++
			if h.Header.Get(signature.HeaderSecret) != "hari_registry_secret" {
				t.Errorf("request %s of the default webhook: X-Webhook-Secret %q, want the secret", h.Header.Get(signature.HeaderID), h.Header.Get(signature.HeaderSecret))
			}
		}
	}
	if opted != 2 || defaulted != 1 {
		t.Errorf("got %d requests of the opted-out webhook (test fire and delivery) and %d of the default one, want 2 and 1", opted, defaulted)
	}
}

// Issue 11 review, finding 2: whoever holds a workspace token (say a
// leaked Settings link) must not read a webhook's secret by pointing the
// webhook at their own URL (the secret left out, so "kept") or by turning
// secret_header back on, then Test firing it. Such an update is a 400
// naming secret and changes nothing; giving the secret again, or ""
// to remove it, goes through.
func TestAttackURLChangeNeedsTheSecretAgain(t *testing.T) {
	t.Parallel()
	const secret = "hari_registry_secret" // closedWon's secret
	c := newAPI(t)
	real := devtest.NewReceiver(t, nil)
	evil := devtest.NewReceiver(t, nil)
	var wh view
	spec := strings.Replace(fmtURL(closedWon, real.URL), `"secret":`, `"secret_header": false, "secret":`, 1)
	if code, body := c.do("POST", c.hooks(), spec, &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	keep := func(url string, header bool) string {
		h := "false"
		if header {
			h = "true"
		}
		return strings.Replace(fmtURL(closedWon, url), `"secret": "`+secret+`", `, `"secret_header": `+h+`, `, 1)
	}
	for _, tt := range []struct {
		name, body, want string
	}{
		{"new URL, secret kept, header on", keep(evil.URL, true), `changing the URL requires the secret again, or "" to remove it`},
		{"new URL, secret kept", keep(evil.URL+"/steal", false), `changing the URL requires the secret again, or "" to remove it`},
		{"same URL, secret kept, header turned on", keep(real.URL, true), `turning secret_header on requires the secret again, or "" to remove it`},
	} {
		var e apiError
		if code, raw := c.do("PUT", c.hooks()+"/"+wh.ID, tt.body, &e); code != http.StatusBadRequest || e.Error.Field != "secret" || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("%s: got %d %s, want 400 naming secret: %s", tt.name, code, raw, tt.want)
		}
	}
	var got view
	if code, body := c.do("GET", c.hooks()+"/"+wh.ID, "", &got); code != http.StatusOK || got.URL != real.URL || !got.HasSecret {
		t.Fatalf("after the refused updates: %d %s, want the webhook unchanged", code, body)
	}
	var tr testResult
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/test-fire", "", &tr); code != http.StatusOK || tr.StatusCode != 200 {
		t.Fatalf("test fire: %d %s", code, body)
	}
	if n := len(evil.Hits()); n != 0 {
		t.Errorf("the attacker's receiver got %d requests, want 0", n)
	}
	hit := real.WaitHits(t, 1, 10*time.Second)[0]
	if v := hit.Header.Get(signature.HeaderSecret); v != "" {
		t.Errorf("X-Webhook-Secret: got %q, want none (secret_header false)", v)
	}

	// The same URL with the secret left out is still an ordinary update.
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, keep(real.URL, false), &got); code != http.StatusOK || !got.HasSecret {
		t.Errorf("update keeping URL and secret: %d %s, want 200 with the secret kept", code, body)
	}
	// A new URL with "" removes the secret: the new URL gets no secret and
	// no signature.
	remove := strings.Replace(fmtURL(closedWon, evil.URL), `"secret": "`+secret+`"`, `"secret_header": true, "secret": ""`, 1)
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, remove, &got); code != http.StatusOK || got.HasSecret {
		t.Fatalf("new URL removing the secret: %d %s, want 200 without a secret", code, body)
	}
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/test-fire", "", &tr); code != http.StatusOK || tr.StatusCode != 200 {
		t.Fatalf("test fire after removal: %d %s", code, body)
	}
	for _, h := range evil.WaitHits(t, 1, 10*time.Second) {
		if h.Header.Get(signature.HeaderSecret) != "" || signature.VerifyRequest(secret, h.Header, h.Body) {
			t.Errorf("the new URL got the old secret or its signature: %v", h.Header)
		}
	}
	// A new URL with the secret given again delivers signed with it.
	moved := strings.Replace(fmtURL(closedWon, real.URL+"/moved"), `"secret": "`+secret+`"`, `"secret": "moved_secret_value_1234"`, 1)
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, moved, &got); code != http.StatusOK || !got.HasSecret {
		t.Fatalf("new URL with the secret: %d %s", code, body)
	}
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/test-fire", "", &tr); code != http.StatusOK || tr.StatusCode != 200 {
		t.Fatalf("test fire after the move: %d %s", code, body)
	}
	hits := real.WaitHits(t, 2, 10*time.Second)
	if last := hits[len(hits)-1]; !signature.VerifyRequest("moved_secret_value_1234", last.Header, last.Body) {
		t.Error("the delivery to the moved URL does not verify with the secret given again")
	}
}

// Issue 11 review, finding 3: a workflow started before workflow IDs were
// scoped by workspace, for workspace A's event "B:order-42", has the ID
// "webhook-event-B:order-42". It must not pass for workspace B's event
// order-42: B reads no such event (404), and B's publish of order-42 is
// delivered, not a duplicate. And a workflow started by a raw client
// (with the codec) under B's scoped ID for an event of workspace A is not
// B's event either: B reads 404, and B's publish of that ID is a 409 on
// id (it cannot start, and is not reported as a duplicate).
func TestAttackLegacyEventIDCollision(t *testing.T) {
	t.Parallel()
	a, b := newAPI(t), newAPI(t)
	rcA := devtest.NewReceiver(t, nil)
	rcB := devtest.NewReceiver(t, nil)
	if code, body := b.do("POST", b.hooks(), fmtURL(closedWon, rcB.URL), nil); code != http.StatusCreated {
		t.Fatalf("B's webhook: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(wid, eventID string) {
		t.Helper()
		e := newEvent()
		e.Workspace, e.ID = a.ws, eventID
		in := map[string]any{"event": e, "targets": []map[string]any{{"id": "t1", "url": rcA.URL + "/a-private-endpoint"}}}
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: workflows.TaskQueue}, workflows.EventWorkflowName, in)
		if err != nil {
			t.Fatalf("start %s: %v", wid, err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatalf("%s: %v", wid, err)
		}
	}
	withID := func(id string) string {
		return strings.Replace(oppEvent(b.ws, "Closed Won"), `{"event"`, `{"id": "`+id+`", "event"`, 1)
	}

	// The ID form before workspace scoping, for A's event "<B>:order-42".
	start("webhook-event-"+b.ws+":order-42", b.ws+":order-42")
	if code, body := b.do("GET", "/api/v1/workspaces/"+b.ws+"/events/order-42", "", nil); code != http.StatusNotFound {
		t.Errorf("B reads order-42 after A's legacy workflow: got %d %s, want 404", code, body)
	}
	var r publisher.Receipt
	if code, body := b.do("POST", b.events(), withID("order-42"), &r); code != http.StatusAccepted || r.Duplicate {
		t.Fatalf("B publishes order-42: got %d %s, want 202, not a duplicate", code, body)
	}
	rcB.WaitHits(t, 1, 20*time.Second)

	// A workflow under B's scoped ID whose input is A's event.
	start(workflows.WorkflowID(b.ws, "order-43"), "order-43")
	if code, body := b.do("GET", "/api/v1/workspaces/"+b.ws+"/events/order-43", "", nil); code != http.StatusNotFound {
		t.Errorf("B reads order-43 held by A's workflow: got %d %s, want 404", code, body)
	}
	var e apiError
	if code, body := b.do("POST", b.events(), withID("order-43"), &e); code != http.StatusConflict || e.Error.Field != "id" {
		t.Errorf("B publishes order-43 held by A's workflow: got %d %s, want 409 on id (not a duplicate)", code, body)
	}
	// B's own repeat is still the duplicate.
	if code, body := b.do("POST", b.events(), withID("order-42"), &r); code != http.StatusOK || !r.Duplicate {
		t.Errorf("B publishes order-42 again: got %d %s, want 200 duplicate", code, body)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rcB.Hits()); n != 1 {
		t.Errorf("B's receiver got %d requests, want 1 (order-42 once)", n)
	}
}
