package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hari-crm/webhooks/signature"
)

func previewOf(t *testing.T, body string) (int, Preview, Error) {
	t.Helper()
	s := &Server{Registry: fakeRegistry{}, Publisher: fakePublisher{}, Open: true}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/workspaces/acme/webhooks/preview", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s.Handler().ServeHTTP(rec, req)
	var p Preview
	var e struct{ Error Error }
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return rec.Code, p, e.Error
}

func header(p Preview, name string) (string, bool) {
	for _, h := range p.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

func TestPreviewOfTheForm(t *testing.T) {
	code, p, _ := previewOf(t, `{"name":"ERP","entity":"opportunity","events":["stage.changed"],
		"conditions":[{"field":"stage","op":"changed_to","value":"Closed Won"}],
		"url":"https://erp.example.com/hooks/hari","fields":["name","amount","stage"],"signed":true,"secret_header":false}`)
	if code != http.StatusOK {
		t.Fatalf("preview: got %d, want 200", code)
	}
	want := `{"event":"stage.changed","entity":"opportunity","timestamp":`
	if !strings.HasPrefix(p.Body, want) || !strings.Contains(p.Body, `"record":{"id":"sample-opportunity-0001","name":"Acme Corp – 200 seats","amount":48000,"stage":"Closed Won"}`) ||
		!strings.Contains(p.Body, `"changes":{"stage":{"old":"Negotiation","new":"Closed Won"}}`) || strings.Contains(p.Body, "owner") {
		t.Errorf("body: got %s, want the selected fields only, the stage moving to Closed Won", p.Body)
	}
	var compact, pretty any
	if json.Unmarshal([]byte(p.Body), &compact) != nil || json.Unmarshal([]byte(p.Pretty), &pretty) != nil || !strings.Contains(p.Pretty, "\n  \"record\": {") {
		t.Errorf("pretty: got %q, want the body indented", p.Pretty)
	}
	if p.Method != "POST" || p.URL != "https://erp.example.com/hooks/hari" || !p.PlaceholderSecret {
		t.Errorf("request line: got %s %s (placeholder %v), want POST to the form's URL, signed with the placeholder", p.Method, p.URL, p.PlaceholderSecret)
	}
	for name, want := range map[string]string{"Content-Type": "application/json", "X-Webhook-Event": "stage.changed", "X-Webhook-Attempt": "1", "X-Webhook-Id": "test-preview:wh_preview"} {
		if got, _ := header(p, name); got != want {
			t.Errorf("header %s: got %q, want %q", name, got, want)
		}
	}
	if _, ok := header(p, signature.HeaderSecret); ok {
		t.Error("X-Webhook-Secret shown with secret_header false, want it absent")
	}
	h := http.Header{}
	for _, x := range p.Headers {
		h.Add(x.Name, x.Value)
	}
	if !signature.VerifyRequest(PlaceholderSecret, h, []byte(p.Body)) {
		t.Error("the preview's signature does not verify with the placeholder secret, want headers of the real shape")
	}

	if len(p.ChangesNotSent) != 0 {
		t.Errorf("changes not sent: got %v, want none (stage is selected)", p.ChangesNotSent)
	}

	// A stage-changed webhook whose first event is record.updated and that
	// does not send the stage: its sample is a stage change all the same,
	// and the preview names the change the body leaves out.
	code, p, _ = previewOf(t, `{"entity":"opportunity","events":["record.updated","stage.changed"],
		"conditions":[{"field":"stage","op":"changed_to","value":"Closed Won"}],"fields":["name","amount"]}`)
	if got, _ := header(p, "X-Webhook-Event"); code != http.StatusOK || got != "stage.changed" || !strings.HasPrefix(p.Body, `{"event":"stage.changed"`) || !strings.HasSuffix(p.Body, `"changes":{}}`) {
		t.Errorf("stage-changed webhook without stage: got %d, event header %q, body %s; want a stage.changed sample whose changes the builder left empty", code, got, p.Body)
	}
	if len(p.ChangesNotSent) != 1 || p.ChangesNotSent[0] != "stage" {
		t.Errorf("changes not sent: got %v, want [stage]", p.ChangesNotSent)
	}

	// Unsigned: no signature headers at all; an unfinished form still previews.
	code, p, _ = previewOf(t, `{"entity":"lead","fields":[]}`)
	if code != http.StatusOK || p.URL != PlaceholderURL || p.PlaceholderSecret {
		t.Fatalf("unfinished form: got %d %s placeholder %v, want 200 with the placeholder URL, unsigned", code, p.URL, p.PlaceholderSecret)
	}
	for _, name := range []string{signature.HeaderSignature, signature.HeaderSecret, signature.HeaderStdSignature} {
		if _, ok := header(p, name); ok {
			t.Errorf("unsigned preview has %s, want it absent", name)
		}
	}
	if !strings.Contains(p.Body, `"name":"Jordan Lee"`) {
		t.Errorf("lead sample: got %s, want a lead's name", p.Body)
	}

	// Values that cannot be built are refused, naming the field.
	for _, tt := range []struct{ body, field string }{
		{`{"entity":"planet"}`, "entity"},
		{`{"entity":"lead","events":["record.exploded"]}`, "events"},
	} {
		if code, _, e := previewOf(t, tt.body); code != http.StatusBadRequest || e.Field != tt.field {
			t.Errorf("%s: got %d on %q, want 400 on %s", tt.body, code, e.Field, tt.field)
		}
	}
}

func TestDescribeBody(t *testing.T) {
	for _, tt := range []struct{ body, id, name string }{
		{`{"event":"stage.changed","record":{"id":"opp-9","name":"Acme Corp – 200 seats","amount":48000}}`, "opp-9", "Acme Corp – 200 seats"},
		{`{"record":{"id":"c-1","first_name":"Jane","last_name":"Smith"}}`, "c-1", "Jane Smith"},
		{`{"record":{"id":42}}`, "42", ""},
	} {
		d, err := describeBody([]byte(tt.body))
		if err != nil || d.Record.ID != tt.id || d.Record.Name != tt.name || !strings.Contains(d.Pretty, "\n  \"record\": {") {
			t.Errorf("%s: got %+v %v, want record %s named %q and the body indented", tt.body, d.Record, err, tt.id, tt.name)
		}
	}
}
