package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/payload"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// PlaceholderSecret signs previews: the real secret is sealed and never
// leaves the worker that sends. It is a valid whsec_ secret (base64 of
// "preview-only-placeholder"), so the headers have their real shape.
const PlaceholderSecret = "whsec_cHJldmlldy1vbmx5LXBsYWNlaG9sZGVy"

// PlaceholderURL stands for a URL the form does not hold yet.
const PlaceholderURL = "https://your-server.example/webhooks/hari"

// PreviewRequest is the body of POST .../webhooks/preview: a webhook's
// configuration as the form holds it, and whether it has a secret.
type PreviewRequest struct {
	webhook.Config
	// Signed says the webhook has (or will have) a secret, so requests
	// carry the signature headers (and X-Webhook-Secret unless
	// secret_header is false).
	Signed bool `json:"signed"`
}

// Header is one request header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Preview is the request a webhook sends for its sample event: built by
// the same code as a delivery (webhook.Sample, payload.Build and
// activities.NewRequest), so it cannot drift from what is sent.
type Preview struct {
	Method  string   `json:"method"`
	URL     string   `json:"url"`
	Headers []Header `json:"headers"`
	// Body is the exact body; Pretty the same JSON indented for reading.
	Body   string `json:"body"`
	Pretty string `json:"pretty"`
	// PlaceholderSecret says the signature headers (and X-Webhook-Secret)
	// were computed with PlaceholderSecret, not the webhook's secret.
	PlaceholderSecret bool `json:"placeholder_secret"`
	// ChangesNotSent names the fields the sample event changed whose
	// change the body leaves out (they are not among the selected fields),
	// so the page can say why "changes" lacks them.
	ChangesNotSent []string `json:"changes_not_sent,omitempty"`
}

// previewForm answers POST .../webhooks/preview: the request a webhook
// configured as the body says would send. It stores nothing; an unfinished
// form is fine (no URL yet, no event chosen), but a value that cannot be
// built is refused, naming its field.
func (s *Server) previewForm(w http.ResponseWriter, r *http.Request) {
	var req PreviewRequest
	if !s.decode(w, r, &req) {
		return
	}
	c := req.Config
	if c.Entity != "" && !slices.Contains(webhook.Entities, c.Entity) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("unknown entity %q (one of %s)", c.Entity, strings.Join(webhook.Entities, ", ")), "entity")
		return
	}
	if c.Entity == "" {
		c.Entity = "opportunity"
	}
	for _, t := range c.Events {
		if !t.Valid() {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("unknown event type %q", t), "events")
			return
		}
	}
	hook := webhook.Webhook{ID: "wh_preview", Workspace: r.PathValue("ws")}
	hook.Apply(c)
	p, err := buildPreview(r.Context(), hook, req.Signed, c.SecretHeader == nil || *c.SecretHeader, "test-preview", time.Now().UTC().Truncate(time.Second))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error(), "conditions")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// previewSaved answers GET .../webhooks/{id}/preview: the request of a
// saved webhook's sample event. With event_id and at (a Test fire
// result's event_id and fired_at) it is the request that Test fire sent,
// as long as the webhook has not been edited since.
func (s *Server) previewSaved(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	at := time.Now().UTC().Truncate(time.Second)
	if v := q.Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("at must be an RFC 3339 time such as 2026-03-31T10:00:00Z, got %q", v), "at")
			return
		}
		at = t.UTC()
	}
	eventID := "test-preview"
	if v := q.Get("event_id"); v != "" {
		if len(v) > 200 || !strings.HasPrefix(v, "test-") {
			writeError(w, http.StatusBadRequest, "invalid", "event_id must be a Test fire's event ID (test-...)", "event_id")
			return
		}
		eventID = v
	}
	c, cancel := ctx(r)
	defer cancel()
	v, err := s.Registry.Get(c, r.PathValue("ws"), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	hook := webhook.Webhook{ID: v.ID, Workspace: v.Workspace, Name: v.Name, Entity: v.Entity, Events: v.Events, Match: v.Match,
		Conditions: v.Conditions, URL: v.URL, Fields: v.Fields, Active: v.Active}
	p, err := buildPreview(c, hook, v.HasSecret, v.SecretHeader, eventID, at)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// buildPreview builds the request of hook's sample event as a Test fire
// does: the same sample, body builder and request builder.
func buildPreview(ctx context.Context, hook webhook.Webhook, signed, secretHeader bool, eventID string, at time.Time) (Preview, error) {
	ev := webhook.Sample(hook, eventID, at)
	body, err := payload.Build(ev, hook.Fields)
	if err != nil {
		return Preview{}, fmt.Errorf("the sample payload cannot be built: %w", err)
	}
	shown := hook.URL
	target := shown
	if shown == "" {
		shown = PlaceholderURL
	}
	if _, err := endpoint.DialURL(target); err != nil {
		target = PlaceholderURL // headers do not depend on the URL
	}
	in := activities.Request{
		URL: target, Body: body, At: at, Attempt: 1, EventType: string(ev.Type),
		DeliveryID: workflows.DeliveryID(eventID, hook.ID), NoSecretHeader: !secretHeader,
	}
	if signed {
		in.Secret = PlaceholderSecret
	}
	req, err := activities.NewRequest(ctx, in)
	if err != nil {
		return Preview{}, err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		return Preview{}, fmt.Errorf("the sample payload is not JSON: %w", err)
	}
	hs := []Header{{Name: "Content-Length", Value: strconv.Itoa(len(body))}}
	for name, vals := range req.Header {
		for _, v := range vals {
			hs = append(hs, Header{Name: name, Value: v})
		}
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	return Preview{Method: req.Method, URL: shown, Headers: hs, Body: string(body), Pretty: pretty.String(), PlaceholderSecret: signed,
		ChangesNotSent: webhook.ChangesNotSent(ev, hook.Fields)}, nil
}
