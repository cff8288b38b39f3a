package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// knownHook is a registry with every webhook.
type knownHook struct{ fakeRegistry }

func (knownHook) Get(_ context.Context, ws, id string) (webhook.View, error) {
	return webhook.View{ID: id, Workspace: ws}, nil
}

// bodyQueries answers every body query and records what was asked.
type bodyQueries struct{ asked *[]string }

func (b bodyQueries) QueryWorkflow(_ context.Context, wid, _, _ string, args ...interface{}) (converter.EncodedValue, error) {
	*b.asked = append(*b.asked, wid+" "+args[0].(string))
	return bodyValue(`{"record":{"id":"opp-9","name":"Acme"}}`), nil
}

// bodyValue is a query answer holding a body.
type bodyValue string

func (bodyValue) HasValue() bool { return true }
func (v bodyValue) Get(ptr interface{}) error {
	*ptr.(*[]byte) = []byte(v)
	return nil
}

var _ converter.EncodedValue = bodyValue("")

// A delivery's body is read only from a workflow of the path's workspace
// and only for a delivery of the path's webhook.
func TestDeliveryBodyStaysInItsWorkspace(t *testing.T) {
	var asked []string
	s := &Server{Registry: knownHook{}, Publisher: fakePublisher{}, Open: true, Bodies: bodyQueries{&asked}}
	get := func(delivery, wid string) (int, string) {
		rec := httptest.NewRecorder()
		q := url.Values{"workflow_id": {wid}, "run_id": {"r1"}}
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/workspaces/acme/webhooks/wh_1/deliveries/"+url.PathEscape(delivery)+"/body?"+q.Encode(), nil))
		var out struct {
			Record struct{ ID, Name string }
			Error  Error
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out.Record.Name + out.Error.Field
	}
	for _, tt := range []struct {
		name, delivery, wid string
		code                int
		want                string
	}{
		{"its own", "ev-1:wh_1", "webhook-event:acme:ev-1", http.StatusOK, "Acme"},
		{"a redelivery", "ev-1:wh_1", "webhook-redelivery:acme:k1:ev-1:wh_1", http.StatusOK, "Acme"},
		{"another workspace's workflow", "ev-1:wh_1", "webhook-event:globex:ev-1", http.StatusBadRequest, "workflow_id"},
		{"not an event workflow", "ev-1:wh_1", "webhook-registry:acme", http.StatusBadRequest, "workflow_id"},
		{"another webhook's delivery", "ev-1:wh_2", "webhook-event:acme:ev-1", http.StatusNotFound, "delivery_id"},
	} {
		asked = nil
		code, got := get(tt.delivery, tt.wid)
		if code != tt.code || got != tt.want {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, code, got, tt.code, tt.want)
		}
		if tt.code != http.StatusOK && len(asked) != 0 {
			t.Errorf("%s: asked %v, want no query", tt.name, asked)
		}
	}
}

// recordQueries answers the record query and records what was asked.
type recordQueries struct{ asked *[]string }

func (q recordQueries) QueryWorkflow(_ context.Context, wid, _, query string, _ ...interface{}) (converter.EncodedValue, error) {
	*q.asked = append(*q.asked, wid+" "+query)
	return recordValue{ID: "opp-9", Name: "Acme"}, nil
}

type recordValue workflows.RecordRef

func (recordValue) HasValue() bool { return true }
func (v recordValue) Get(ptr interface{}) error {
	*ptr.(*workflows.RecordRef) = workflows.RecordRef(v)
	return nil
}

// A delivery's record (for a skipped delivery's title) is read with the
// body's checks: only from a workflow of the path's workspace, only for
// a delivery of the path's webhook, through the record query.
func TestDeliveryRecordStaysInItsWorkspace(t *testing.T) {
	var asked []string
	s := &Server{Registry: knownHook{}, Publisher: fakePublisher{}, Open: true, Bodies: recordQueries{&asked}}
	for _, tt := range []struct {
		name, delivery, wid string
		code                int
		want                string
	}{
		{"its own", "ev-1:wh_1", "webhook-event:acme:ev-1", http.StatusOK, "opp-9 Acme"},
		{"another workspace's workflow", "ev-1:wh_1", "webhook-event:globex:ev-1", http.StatusBadRequest, "workflow_id"},
		{"another webhook's delivery", "ev-1:wh_2", "webhook-event:acme:ev-1", http.StatusNotFound, "delivery_id"},
	} {
		asked = nil
		rec := httptest.NewRecorder()
		q := url.Values{"workflow_id": {tt.wid}, "run_id": {"r1"}}
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/workspaces/acme/webhooks/wh_1/deliveries/"+url.PathEscape(tt.delivery)+"/record?"+q.Encode(), nil))
		var out struct {
			Record struct{ ID, Name string }
			Error  Error
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		got := out.Error.Field
		if out.Record.ID != "" {
			got = out.Record.ID + " " + out.Record.Name
		}
		if rec.Code != tt.code || got != tt.want {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, rec.Code, got, tt.code, tt.want)
		}
		if tt.code == http.StatusOK && (len(asked) != 1 || asked[0] != tt.wid+" "+workflows.QueryRecord) {
			t.Errorf("%s: asked %v, want the record query of %s", tt.name, asked, tt.wid)
		}
		if tt.code != http.StatusOK && len(asked) != 0 {
			t.Errorf("%s: asked %v, want no query", tt.name, asked)
		}
	}
}
