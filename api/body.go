package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/workflows"
)

// BodyQuerier asks an event's workflow for the body of one of its
// deliveries (a Temporal client whose data converter opens the payload
// codec).
type BodyQuerier interface {
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...interface{}) (converter.EncodedValue, error)
}

// BodyWait bounds the query: a closed workflow is replayed on a worker to
// answer it.
const BodyWait = 10 * time.Second

// DeliveryBody is what GET .../deliveries/{delivery}/body answers: the
// body every attempt of the delivery sent, indented, and the record it
// names.
type DeliveryBody struct {
	Body   string `json:"body"`
	Pretty string `json:"pretty"`
	Record struct {
		ID   string `json:"id"`
		Name string `json:"name,omitempty"`
	} `json:"record"`
}

// deliveryBody answers GET .../webhooks/{id}/deliveries/{delivery}/body
// ?workflow_id=&run_id= (the log entry's): only for a workflow of the
// path's workspace and a delivery of the path's webhook.
func (s *Server) deliveryBody(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	wid, runID, deliveryID, ok := s.deliveryOfLog(c, w, r)
	if !ok {
		return
	}
	var body []byte
	if !s.queryDelivery(c, w, wid, runID, deliveryID, "body", "delivery", &body, activities.QueryDeliveryBody, deliveryID) {
		return
	}
	out, err := describeBody(body)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// deliveryOfLog checks a delivery route's path and query (the workspace's
// webhook, a workflow of the workspace, a delivery of the webhook) and
// returns the workflow, its run and the delivery; false when it has
// written the error.
func (s *Server) deliveryOfLog(c context.Context, w http.ResponseWriter, r *http.Request) (wid, runID, deliveryID string, ok bool) {
	ws, id, deliveryID := r.PathValue("ws"), r.PathValue("id"), r.PathValue("delivery")
	wid, runID = r.URL.Query().Get("workflow_id"), r.URL.Query().Get("run_id")
	if _, err := s.Registry.Get(c, ws, id); err != nil {
		fail(w, err)
		return "", "", "", false
	}
	owner, _, parsed := workflows.ParseWorkflowID(wid)
	if !parsed {
		owner, _, _, parsed = workflows.ParseRedeliveryWorkflowID(wid)
	}
	if !parsed || owner != ws {
		writeError(w, http.StatusBadRequest, "invalid", "workflow_id must be the workflow of a delivery of this workspace (as the execution log lists it)", "workflow_id")
		return "", "", "", false
	}
	if !strings.HasSuffix(deliveryID, ":"+id) {
		writeError(w, http.StatusNotFound, "not_found", "no delivery "+deliveryID+" of webhook "+id, "delivery_id")
		return "", "", "", false
	}
	if s.Bodies == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server does not read delivery bodies", "")
		return "", "", "", false
	}
	return wid, runID, deliveryID, true
}

// queryDelivery asks the log entry's workflow a query about one of its
// deliveries (within BodyWait) and decodes the answer into out. It
// answers 404 naming what is missing when the workflow is gone or does
// not answer (what: "body" or "record"; unknown: what it does not
// answer), and reports whether out was filled.
func (s *Server) queryDelivery(c context.Context, w http.ResponseWriter, wid, runID, deliveryID, what, unknown string, out any, query string, args ...any) bool {
	qctx, qcancel := context.WithTimeout(c, BodyWait)
	defer qcancel()
	val, err := s.Bodies.QueryWorkflow(qctx, wid, runID, query, args...)
	if err == nil {
		err = val.Get(out)
	}
	if err == nil {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		fail(w, err)
		return false
	}
	writeError(w, http.StatusNotFound, "not_found", "the "+what+" of delivery "+deliveryID+" is not available (its workflow is gone, or answers no such "+unknown+")", "delivery_id")
	return false
}

// deliveryRecord answers GET .../webhooks/{id}/deliveries/{delivery}/record
// ?workflow_id=&run_id=: the record of the delivery's event (its ID and
// name), read from the event, not from a body: a skipped delivery, which
// sent none, has its record too. The same checks as the body's.
func (s *Server) deliveryRecord(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	wid, runID, deliveryID, ok := s.deliveryOfLog(c, w, r)
	if !ok {
		return
	}
	var rec workflows.RecordRef
	if !s.queryDelivery(c, w, wid, runID, deliveryID, "record", "query", &rec, workflows.QueryRecord) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"record": rec})
}

// describeBody indents a delivery body and reads its record's ID and
// name (name, or first and last name, when the field selection sent them).
func describeBody(body []byte) (DeliveryBody, error) {
	var out DeliveryBody
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		return out, fmt.Errorf("%w: delivery body is not JSON: %v", registry.ErrNotFound, err)
	}
	out.Body, out.Pretty = string(body), pretty.String()
	var b struct {
		Record map[string]json.RawMessage `json:"record"`
	}
	_ = json.Unmarshal(body, &b)
	str := func(k string) string {
		var v any
		if json.Unmarshal(b.Record[k], &v) != nil || v == nil {
			return ""
		}
		if s, ok := v.(string); ok {
			return s
		}
		return strings.TrimSpace(string(b.Record[k]))
	}
	out.Record.ID = str("id")
	out.Record.Name = str("name")
	if out.Record.Name == "" {
		out.Record.Name = strings.TrimSpace(str("first_name") + " " + str("last_name"))
	}
	if out.Record.Name == "" {
		out.Record.Name = str("title")
	}
	return out, nil
}
