package integration

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// sealOld makes a seal in an old format with the test server's key, as
// the code before v3 did: v1 (a fixed label) or v2 (workspace and webhook,
// not the URL). A fixture: the AEAD is the standard library's.
func sealOld(t *testing.T, version int, secret, ws, id string) string {
	t.Helper()
	kid, b64, _ := strings.Cut(srv.KeySpec, ":")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(raw)
	aead, _ := cipher.NewGCM(block)
	aad := "hari-webhook-secret/v1"
	if version == 2 {
		aad = "hari-webhook-secret/v2|" + strconv.Itoa(len(ws)) + ":" + ws + "|" + strconv.Itoa(len(id)) + ":" + id
	}
	nonce := make([]byte, aead.NonceSize())
	ct := aead.Seal(nonce, nonce, []byte(secret), []byte(aad))
	return "sealed:v" + strconv.Itoa(version) + ":" + kid + ":" + base64.RawURLEncoding.EncodeToString(ct)
}

// Issue 11 review, finding 1: seals in the old formats (v1, v2: not bound
// to the URL) are upgraded only by the operator's reseal, never on the way
// by a publish or a Test fire. Until then a delivery and a Test fire of
// such a webhook fail with the reason naming `starter keys reseal`, and
// nothing is sent; after the reseal both deliver signed.
func TestOldSealsFailUntilTheOperatorReseals(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A registry carried over from before v3, holding one v1 and one v2 seal.
	now := time.Now().UTC()
	hook := func(id, name, sealed string) webhook.Webhook {
		return webhook.Webhook{ID: id, Workspace: c.ws, Name: name, Entity: "contact", Events: []event.Type{event.RecordCreated},
			URL: rc.URL + "/" + id, Active: true, SealedSecret: sealed, SecretHint: "********", CreatedAt: now, UpdatedAt: now}
	}
	state := &workflows.RegistryState{Webhooks: []webhook.Webhook{
		hook("wh_v1", "one", sealOld(t, 1, "old_secret_v1", c.ws, "wh_v1")),
		hook("wh_v2", "two", sealOld(t, 2, "old_secret_v2", c.ws, "wh_v2")),
	}}
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.RegistryWorkflowID(c.ws), TaskQueue: workflows.TaskQueue},
		workflows.RegistryWorkflowName, workflows.RegistryInput{Workspace: c.ws, State: state}); err != nil {
		t.Fatal(err)
	}
	const wantReason = "starter keys reseal"
	for _, id := range []string{"wh_v1", "wh_v2"} {
		var tr testResult
		if code, body := c.do("POST", c.hooks()+"/"+id+"/test-fire", "", &tr); code != http.StatusOK || tr.StatusCode != 0 || !strings.Contains(tr.Error, wantReason) {
			t.Errorf("Test fire of %s: got %d %s, want a result whose error names %q", id, code, body, wantReason)
		}
	}
	ev := `{"event": "record.created", "entity": "contact", "timestamp": "2026-03-31T14:30:00Z", "workspace": "` + c.ws + `", "record": {"id": "c-1"}}`
	var receipt publisher.Receipt
	if code, body := c.do("POST", c.events(), ev, &receipt); code != http.StatusAccepted || receipt.Matched != 2 {
		t.Fatalf("publish: %d %s, want two matches", code, body)
	}
	o, err := pub.Wait(ctx, c.ws, receipt.EventID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range o.Deliveries {
		if d.Status != workflows.StatusFailed || !strings.Contains(d.Error, wantReason) || len(d.Attempts) != 0 {
			t.Errorf("delivery to %s: got %s (%s) after %d attempts, want failed naming %q with no attempt", d.WebhookID, d.Status, d.Error, len(d.Attempts), wantReason)
		}
	}
	if n := len(rc.Hits()); n != 0 {
		t.Errorf("the receiver got %d requests before the reseal, want 0", n)
	}
	// Nothing upgraded them on the way: the registry still holds both.
	if got := sealedFromState(t, ctx, c.ws); !strings.HasPrefix(got["wh_v1"], "sealed:v1:") || !strings.HasPrefix(got["wh_v2"], "sealed:v2:") {
		t.Errorf("after a Test fire and a publish the registry holds %v, want the v1 and v2 seals unchanged", got)
	}

	// The operator's reseal: both become v3, bound to their URLs, and deliver.
	if n, err := reg.Reseal(ctx, c.ws); err != nil || n != 2 {
		t.Fatalf("reseal: got %d, %v; want 2", n, err)
	}
	if code, body := c.do("POST", c.events(), strings.Replace(ev, `"c-1"`, `"c-2"`, 1), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish after the reseal: %d %s", code, body)
	}
	hits := rc.WaitHits(t, 2, 20*time.Second)
	for _, h := range hits {
		secret := "old_secret_v1"
		if strings.HasSuffix(h.Header.Get(signature.HeaderID), ":wh_v2") {
			secret = "old_secret_v2"
		}
		if !signature.VerifyRequest(secret, h.Header, h.Body) {
			t.Errorf("%s after the reseal: the signature does not verify with %s", h.Header.Get(signature.HeaderID), secret)
		}
	}
}

// sealedFromState reads the registry's sealed secrets (the reseal query).
func sealedFromState(t *testing.T, ctx context.Context, ws string) map[string]string {
	t.Helper()
	v, err := tc.QueryWorkflow(ctx, workflows.RegistryWorkflowID(ws), "", workflows.QuerySecrets)
	if err != nil {
		t.Fatal(err)
	}
	var stored []workflows.StoredSecret
	if err := v.Get(&stored); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range stored {
		out[s.ID] = s.Sealed
	}
	return out
}

// Secrets stored before an upgrade keep delivering without an operator:
// the worker's first sweep re-seals them with its active key, bound to
// their URL (the operator's reseal stays for retiring a key on demand).
func TestWorkerResealsOldSealsAtStart(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc).withEnv("HARI_RECOVER_EVERY=1h")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ws := "reseal-start-" + uuid.NewString()[:8]
	now := time.Now().UTC()
	state := &workflows.RegistryState{Webhooks: []webhook.Webhook{{
		ID: "wh_v1", Workspace: ws, Name: "one", Entity: "contact", Events: []event.Type{event.RecordCreated},
		URL: rc.URL + "/wh_v1", Active: true, SealedSecret: sealOld(t, 1, "old_secret_v1", ws, "wh_v1"), SecretHint: "********",
		CreatedAt: now, UpdatedAt: now,
	}}}
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.RegistryWorkflowID(ws), TaskQueue: e.queue()},
		workflows.RegistryWorkflowName, workflows.RegistryInput{Workspace: ws, State: state}); err != nil {
		t.Fatal(err)
	}
	// Visibility lists the registry as running a moment after its start.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + workflows.RegistryWorkflowID(ws) + "'"})
		if err == nil && len(resp.GetExecutions()) == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.startWorker()
	var got string
	for deadline = time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = sealedFromState(t, ctx, ws)["wh_v1"]; strings.HasPrefix(got, codec.SealPrefix) {
			break
		}
	}
	if !strings.HasPrefix(got, codec.SealPrefix) {
		t.Fatalf("30 s after the worker started the registry holds %.12q..., want a %s seal", got, codec.SealPrefix)
	}
	stdout, stderr, code := e.starterRun(`{"event": "record.created", "entity": "contact", "timestamp": "2026-03-31T14:30:00Z", "workspace": "`+ws+`", "record": {"id": "c-1"}}`,
		"publish", "--file", "-", "--wait")
	if code != 0 {
		t.Fatalf("publish after the worker's reseal: exit %d %s %s", code, stdout, stderr)
	}
	hits := rc.WaitHits(t, 1, 20*time.Second)
	if !signature.VerifyRequest("old_secret_v1", hits[0].Header, hits[0].Body) {
		t.Errorf("after the worker's reseal the delivery's signature does not verify with the stored secret")
	}
}
