package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/signature"
)

// The preview of a Test fire is what the receiver got: the same body,
// byte for byte, and the same headers, only the signatures computed with
// a placeholder secret (the real one never leaves the worker).
func TestPreviewIsWhatTestFireSent(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	spec := `{"name": "ERP", "entity": "opportunity", "events": ["stage.changed"],
	 "conditions": [{"field": "stage", "op": "changed_to", "value": "Closed Won"}],
	 "url": "` + rc.URL + `/erp", "fields": ["name", "amount", "stage"], "secret": "preview-test-secret-1"}`
	var wh view
	if code, body := c.do("POST", c.hooks(), spec, &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var res struct {
		EventID string    `json:"event_id"`
		FiredAt time.Time `json:"fired_at"`
		Status  int       `json:"status_code"`
	}
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/test-fire", "", &res); code != http.StatusOK || res.Status != http.StatusOK {
		t.Fatalf("test fire: %d %s", code, body)
	}
	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("receiver: got %d requests, want 1", len(hits))
	}
	sent := hits[0]
	var p api.Preview
	q := url.Values{"event_id": {res.EventID}, "at": {res.FiredAt.Format(time.RFC3339Nano)}}
	if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/preview?"+q.Encode(), "", &p); code != http.StatusOK {
		t.Fatalf("preview: %d %s", code, body)
	}
	if p.Body != string(sent.Body) {
		t.Errorf("preview body:\n got %s\nwant %s (what the receiver got)", p.Body, sent.Body)
	}
	shown := http.Header{}
	for _, h := range p.Headers {
		shown.Add(h.Name, h.Value)
	}
	signed := map[string]bool{signature.HeaderSignature: true, signature.HeaderSecret: true, signature.HeaderStdSignature: true, signature.HeaderStdTimestamp: true}
	for _, name := range []string{"Content-Type", "User-Agent", "Content-Length", signature.HeaderID, signature.HeaderEvent, signature.HeaderAttempt, signature.HeaderStdID,
		signature.HeaderSignature, signature.HeaderSecret, signature.HeaderStdSignature, signature.HeaderStdTimestamp} {
		got, want := shown.Get(name), sent.Header.Get(name)
		switch {
		case want == "" || got == "":
			t.Errorf("header %s: preview %q, sent %q; want it in both", name, got, want)
		case !signed[name] && got != want:
			t.Errorf("header %s: preview %q, sent %q; want the same", name, got, want)
		}
	}
	if shown.Get(signature.HeaderSecret) != api.PlaceholderSecret || !p.PlaceholderSecret {
		t.Errorf("X-Webhook-Secret in the preview: got %q, want the placeholder, never the real secret", shown.Get(signature.HeaderSecret))
	}
	if strings.Contains(p.Body+p.Pretty, "preview-test-secret-1") {
		t.Error("the preview holds the webhook's secret")
	}
}
