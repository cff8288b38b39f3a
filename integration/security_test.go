package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

// A rotated secret: for the grace period both the new and the old secret
// verify webhook-signature; the spec's headers use the new one; a request
// replayed after the tolerance fails.
func TestSecretRotationAndReplayProtection(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	var wh view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL), &wh); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	rotated := strings.Replace(fmtURL(closedWon, rc.URL), "hari_registry_secret", "hari_rotated_secret", 1)
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, rotated, &wh); code != 200 || wh.Secret != "********cret" {
		t.Fatalf("rotate: %d %s", code, body)
	}
	var r map[string]any
	c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &r)
	h := rc.WaitHits(t, 1, 10*time.Second)[0]

	if !signature.VerifyRequest("hari_rotated_secret", h.Header, h.Body) {
		t.Error("X-Webhook-Signature does not verify with the new secret")
	}
	now := time.Now()
	for _, s := range []string{"hari_rotated_secret", "hari_registry_secret"} {
		if err := signature.VerifyStandard(s, h.Header, h.Body, signature.DefaultTolerance, now); err != nil {
			t.Errorf("webhook-signature with %s: %v", s, err)
		}
	}
	if h.Header.Get("webhook-id") != h.Header.Get(signature.HeaderID) {
		t.Errorf("webhook-id %q differs from X-Webhook-Id %q", h.Header.Get("webhook-id"), h.Header.Get(signature.HeaderID))
	}
	if err := signature.VerifyStandard("hari_rotated_secret", h.Header, h.Body, signature.DefaultTolerance, now.Add(6*time.Minute)); err == nil {
		t.Error("a request replayed six minutes later still verifies")
	}
}

// What `temporal workflow show --output json` exports holds no secret and
// no plaintext record field; the codec endpoint decodes what the UI sends.
func TestExportedHistoryIsEncryptedAndTheCodecEndpointDecodesIt(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(500, 200))
	ev := newEvent()
	o := publishWait(t, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t1", URL: rc.URL, Secret: secret}}})
	if o.Deliveries[0].Status != workflows.StatusDelivered {
		t.Fatalf("delivery: %+v", o.Deliveries[0])
	}
	cli, err := devtest.TemporalPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cli, "workflow", "show", "--address", srv.HostPort, "-w", workflows.WorkflowID(ev.Workspace, ev.ID), "--output", "json").Output()
	if err != nil {
		t.Fatalf("temporal workflow show: %v", err)
	}
	var export struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(out, &export); err != nil || len(export.Events) < 5 {
		t.Fatalf("export: %v (%d events)", err, len(export.Events))
	}
	// Search the export as printed and every base64 "data" field decoded.
	text := string(out)
	var payloads []map[string]any
	walk(export.Events, func(m map[string]any) {
		if d, ok := m["data"].(string); ok {
			if raw, err := base64.StdEncoding.DecodeString(d); err == nil {
				text += "\n" + string(raw)
			}
			if md, ok := m["metadata"].(map[string]any); ok && md["encoding"] == base64.StdEncoding.EncodeToString([]byte(codec.EncodingEncrypted)) {
				payloads = append(payloads, m)
			}
		}
	})
	for _, s := range []string{secret, "Jane Smith", "jane@example.com", rc.URL} {
		if strings.Contains(text, s) {
			t.Errorf("the exported history holds %q in plaintext", s)
		}
	}
	if len(payloads) == 0 {
		t.Fatal("no encrypted payloads found in the export")
	}

	// The Web UI posts payloads as they are in the export.
	handler := codec.Handler(srv.Keys, codec.Access{Origins: []string{"http://localhost:8233"}, Token: "ui-codec-token"})
	body, _ := json.Marshal(map[string]any{"payloads": payloads})
	req := httptest.NewRequest(http.MethodPost, "/codec/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	req.Header.Set("Origin", "http://localhost:8233")
	req.Header.Set("Authorization", "Bearer ui-codec-token")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("decode: %d %s", rec.Code, rec.Body)
	}
	var decoded struct{ Payloads []struct{ Data string } }
	_ = json.NewDecoder(rec.Body).Decode(&decoded)
	var plain strings.Builder
	for _, p := range decoded.Payloads {
		raw, _ := base64.StdEncoding.DecodeString(p.Data)
		plain.Write(raw)
	}
	if !strings.Contains(plain.String(), "Jane Smith") || !strings.Contains(plain.String(), `"attempt":2`) {
		t.Errorf("the codec endpoint did not give back the event and the attempt log: %.300s", plain.String())
	}
}

func walk(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, c := range x {
			walk(c, fn)
		}
	case []any:
		for _, c := range x {
			walk(c, fn)
		}
	case []map[string]any:
		for _, c := range x {
			walk(c, fn)
		}
	}
}
