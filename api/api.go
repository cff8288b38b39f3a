// Package api serves the HTTP JSON API of the webhook service: webhook
// management, Test fire, the execution log, and event publishing, for the
// Settings page and for HARi services in any language.
//
// Every route names its workspace in the path (/api/v1/workspaces/{ws}/...)
// and needs a bearer token (package token) that grants that workspace: a
// workspace token of the same workspace or a service token. Otherwise the
// answer is 401 (no valid token) or 403 (another workspace), before
// anything is read or changed.
//
// Every error has one shape, {"error": {"code", "message", "field"}}, with
// a 4xx status for a bad request and 503 when Temporal cannot be reached.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hari-crm/webhooks/api/token"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// Registry is the webhook management the API needs (registry.Client).
type Registry interface {
	Create(ctx context.Context, ws string, spec webhook.Spec) (webhook.View, error)
	Update(ctx context.Context, ws, id string, spec webhook.Spec) (webhook.View, error)
	SetActive(ctx context.Context, ws, id string, active bool) (webhook.View, error)
	Delete(ctx context.Context, ws, id string) error
	List(ctx context.Context, ws string) ([]webhook.View, error)
	Get(ctx context.Context, ws, id string) (webhook.View, error)
	TestFire(ctx context.Context, ws, id string) (workflows.TestResult, error)
	TestResult(ctx context.Context, ws, id string) (*workflows.TestResult, error)
	DismissTest(ctx context.Context, ws, id string) error
}

// Publisher publishes events and reads outcomes (publisher.Publisher).
type Publisher interface {
	Publish(ctx context.Context, in workflows.EventInput) (publisher.Receipt, error)
	Show(ctx context.Context, ws, eventID string) (publisher.Outcome, error)
	DeliveriesPage(ctx context.Context, ws, webhookID string, q publisher.LogQuery) (publisher.LogPage, error)
	Redeliver(ctx context.Context, ws, webhookID, deliveryID string, opts publisher.RedeliverOptions) (publisher.Redelivery, error)
	StartRecovery(ctx context.Context, ws, webhookID string, since time.Time) (publisher.RecoveryJob, error)
	Recovery(ctx context.Context, ws, webhookID, job string) (publisher.Recovery, error)
	CancelRecovery(ctx context.Context, ws, webhookID, job string) error
	Health(ctx context.Context, ws, webhookID string) (publisher.Health, error)
	NotSent(ctx context.Context, ws, webhookID string, since time.Time) (int, error)
}

// Verifier checks a bearer token and says what its holder may do
// (*token.Keys).
type Verifier interface {
	Verify(raw string) (token.Claims, error)
}

// Server is the API handler. Every route names its workspace in the path,
// and every request needs a bearer token that grants that workspace: a
// workspace token of the same workspace, or a service token.
type Server struct {
	Registry  Registry
	Publisher Publisher
	// Tokens verifies the bearer tokens. Without it every request is
	// refused with 401, unless Open is set.
	Tokens Verifier
	// Open serves requests without any token: for development only (the
	// worker sets it with -dev when it has no API keys).
	Open bool
	// Bodies reads delivery bodies for the execution log (optional: without
	// it, GET .../deliveries/{delivery}/body answers 404).
	Bodies BodyQuerier
	// MaxBody bounds request bodies (default event.MaxSize).
	MaxBody int64
	// Pages seals the execution log's page tokens (*codec.Keyring): a
	// token is bound to its workspace and webhook, and one the API did
	// not make is refused with 400 before it reaches Temporal (whose
	// visibility store can take a malformed token for a failure worth
	// retrying until the deadline). Without it the tokens are Temporal's,
	// in base64url, and only their shape is checked.
	Pages PageSealer
}

// PageSealer seals and opens text bound to a workspace, a webhook and a
// purpose (*codec.Keyring).
type PageSealer interface {
	Seal(secret, workspace, webhookID, url string) (string, error)
	Open(sealed, workspace, webhookID, url string) (string, error)
}

// logPagePurpose binds a sealed page token to the execution log.
const logPagePurpose = "hari:execution-log-page"

// Handler returns the API's routes under /api/v1/.
func (s *Server) Handler() http.Handler {
	mux, _ := s.mux()
	return s.guard(mux)
}

// route is one registered pattern; scoped says it went through s.scoped
// (tests walk every route, so that none escapes the workspace check).
type route struct {
	pattern string
	scoped  bool
}

// mux registers every route, each through scoped (a workspace route) or
// open (the few that act on no workspace), and lists them.
func (s *Server) mux() (*http.ServeMux, []route) {
	mux := http.NewServeMux()
	var routes []route
	scoped := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.scoped(h))
		routes = append(routes, route{pattern, true})
	}
	open := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		routes = append(routes, route{pattern, false})
	}
	const ws = "/api/v1/workspaces/{ws}"
	const wh = ws + "/webhooks"
	scoped("GET "+wh, s.list)
	scoped("POST "+wh, s.create)
	scoped("GET "+wh+"/{id}", s.get)
	scoped("PUT "+wh+"/{id}", s.update)
	scoped("DELETE "+wh+"/{id}", s.remove)
	scoped("POST "+wh+"/{id}/activate", s.setActive(true))
	scoped("POST "+wh+"/{id}/deactivate", s.setActive(false))
	scoped("POST "+wh+"/preview", s.previewForm)
	scoped("GET "+wh+"/{id}/preview", s.previewSaved)
	scoped("POST "+wh+"/{id}/test-fire", s.testFire)
	scoped("GET "+wh+"/{id}/test-result", s.testResult)
	scoped("DELETE "+wh+"/{id}/test-result", s.dismissTest)
	scoped("GET "+wh+"/{id}/deliveries", s.deliveries)
	scoped("POST "+wh+"/{id}/deliveries/{delivery}/redeliver", s.redeliver)
	scoped("GET "+wh+"/{id}/deliveries/{delivery}/body", s.deliveryBody)
	scoped("GET "+wh+"/{id}/deliveries/{delivery}/record", s.deliveryRecord)
	scoped("POST "+wh+"/{id}/recover", s.startRecovery)
	scoped("GET "+wh+"/{id}/recoveries/{job}", s.recovery)
	scoped("POST "+wh+"/{id}/recoveries/{job}/cancel", s.cancelRecovery)
	scoped("POST "+ws+"/events", s.publish)
	scoped("GET "+ws+"/events/{id}", s.showEvent)
	// The routes before workspaces were in every path.
	open("/api/v1/events", moved)
	open("/api/v1/events/", moved)
	open("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path, "")
	})
	return mux, routes
}

func moved(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusGone, "gone", "events moved under their workspace: use POST /api/v1/workspaces/{workspace}/events and GET /api/v1/workspaces/{workspace}/events/{id}", "")
}

type claimsKey struct{}

// guard adds authentication, panic recovery and JSON-only responses.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				writeError(w, http.StatusInternalServerError, "internal", "internal error", "")
			}
		}()
		if !s.Open {
			claims, msg := s.authenticate(r)
			if msg != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hari-webhooks"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", msg, "")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims))
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Writes come from the Settings page (same origin) or from
			// services (no Origin): never from another site's page.
			if r.Header.Get("Sec-Fetch-Site") == "cross-site" || !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "cross_origin", "requests from other sites are refused", "")
				return
			}
			if r.ContentLength != 0 && !isJSON(r.Header.Get("Content-Type")) {
				writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send JSON with Content-Type: application/json", "")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authenticate returns the claims of the request's bearer token, or the
// reason it has none that is valid.
func (s *Server) authenticate(r *http.Request) (token.Claims, string) {
	raw, ok := token.FromHeader(r.Header.Get("Authorization"))
	if !ok {
		return token.Claims{}, "a bearer token is required (Authorization: Bearer <token>)"
	}
	if s.Tokens == nil {
		return token.Claims{}, "this server has no API keys configured, so it accepts no token"
	}
	c, err := s.Tokens.Verify(raw)
	if err != nil {
		if errors.Is(err, token.ErrExpired) {
			return token.Claims{}, "the bearer token has expired"
		}
		return token.Claims{}, "the bearer token is not valid"
	}
	return c, ""
}

// scoped lets a request through only when its token grants the workspace
// its path names; otherwise 403 with nothing read or changed.
func (s *Server) scoped(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Open {
			c, _ := r.Context().Value(claimsKey{}).(token.Claims)
			if ws := r.PathValue("ws"); !c.Allows(ws) {
				writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("%s may not act on workspace %q", c.Subject(), ws), "")
				return
			}
		}
		next(w, r)
	})
}

// isJSON is true for exactly the media type application/json (any
// parameters, such as charset=utf-8).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return err == nil && strings.EqualFold(u.Host, r.Host) && u.Scheme == scheme
}

// HostGuard answers 421 to any Host header not in hosts, against DNS
// rebinding: the API, the codec endpoint (it decodes payloads) and the
// page. /healthz and /metrics stay open to probes and scrapers, which
// address a worker by its IP.
func HostGuard(hosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open := r.URL.Path == "/healthz" || r.URL.Path == "/metrics"
		if len(hosts) > 0 && !open && !hostAllowed(hosts, r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "unknown_host", "this service does not answer to host "+r.Host, "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hostAllowed(hosts []string, hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, h := range hosts {
		if strings.EqualFold(strings.Trim(h, "[]"), host) {
			return true
		}
	}
	return false
}

// Error is the API's one error shape.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Help puts a refused Redeliver or Recover in plain language, with
	// its next step (absent elsewhere).
	Help *delivery.Help `json:"help,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, map[string]Error{"error": {Code: code, Message: msg, Field: field}})
}

// fail maps an error to its status and code; bad input is always a 4xx.
func fail(w http.ResponseWriter, err error) {
	status, e := failure(err)
	writeFailure(w, status, e, err)
}

// writeFailure writes a failure's answer (a running recovery's job ID
// beside the error).
func writeFailure(w http.ResponseWriter, status int, e Error, err error) {
	var running *publisher.RecoveryRunningError
	if errors.As(err, &running) {
		writeJSON(w, status, map[string]any{"error": e, "job_id": running.JobID})
		return
	}
	writeJSON(w, status, map[string]Error{"error": e})
}

// failure is the status and error an error is answered with.
func failure(err error) (int, Error) {
	var wfe *webhook.FieldError
	var efe *event.FieldError
	var running *publisher.RecoveryRunningError
	switch {
	case errors.As(err, &running):
		return http.StatusConflict, Error{Code: "recovery_running", Message: running.Error(), Field: "since"}
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, publisher.ErrNotFound):
		return http.StatusNotFound, Error{Code: "not_found", Message: err.Error()}
	case errors.Is(err, registry.ErrRetired):
		return http.StatusConflict, Error{Code: "retired", Message: message(err)}
	case errors.Is(err, publisher.ErrPending):
		return http.StatusConflict, Error{Code: "pending", Message: err.Error(), Field: "delivery_id"}
	case errors.Is(err, publisher.ErrInactive):
		return http.StatusConflict, Error{Code: "inactive", Message: err.Error()}
	case errors.Is(err, publisher.ErrDisabled):
		return http.StatusConflict, Error{Code: "disabled", Message: err.Error()}
	case errors.Is(err, publisher.ErrTooManyRedeliveries):
		return http.StatusConflict, Error{Code: "conflict", Message: err.Error(), Field: "delivery_id"}
	case errors.Is(err, publisher.ErrIDTaken):
		return http.StatusConflict, Error{Code: "conflict", Message: message(err), Field: "id"}
	case errors.Is(err, registry.ErrConflict):
		field := ""
		if errors.As(err, &wfe) {
			field = wfe.Field
		}
		return http.StatusConflict, Error{Code: "conflict", Message: message(err), Field: field}
	case errors.As(err, &wfe):
		return http.StatusBadRequest, Error{Code: "invalid", Message: wfe.Message, Field: wfe.Field}
	case errors.As(err, &efe):
		return http.StatusBadRequest, Error{Code: "invalid", Message: efe.Message, Field: efe.Field}
	case errors.Is(err, endpoint.ErrInvalid), errors.Is(err, webhook.ErrInvalid), errors.Is(err, event.ErrInvalid):
		return http.StatusBadRequest, Error{Code: "invalid", Message: message(err), Field: fieldOf(err)}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout, Error{Code: "timeout", Message: "the webhook service did not answer in time"}
	default:
		// Internal error text (hosts, ports) stays out of answers.
		return http.StatusServiceUnavailable, Error{Code: "unavailable", Message: "the webhook service is unavailable; try again"}
	}
}

func message(err error) string {
	msg := err.Error()
	for _, p := range []string{registry.ErrConflict.Error() + ": ", endpoint.ErrInvalid.Error() + ": ", webhook.ErrInvalid.Error() + ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

func fieldOf(err error) string {
	if errors.Is(err, endpoint.ErrInvalid) {
		if strings.Contains(err.Error(), "url") {
			return "url"
		}
		return "targets"
	}
	return ""
}

// decode reads a JSON body strictly into v.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	limit := s.MaxBody
	if limit == 0 {
		limit = event.MaxSize
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the request body could not be read", "")
		return false
	}
	if int64(len(data)) > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body is larger than %d bytes", limit), "")
		return false
	}
	if err := event.StrictUnmarshal(data, v); err != nil {
		var fe *event.FieldError
		if errors.As(err, &fe) {
			code, msg := "invalid_json", fe.Message
			if fe.Message == "unknown field" {
				code = "invalid"
				if m, ok := endpoint.RouterOnlyMessage(fe.Field); ok {
					msg = m
				}
			}
			writeError(w, http.StatusBadRequest, code, msg, fe.Field)
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid_json", err.Error(), "")
		return false
	}
	return true
}

// Deadline bounds every request's work (a synchronous Test fire
// included: its attempt is cut at 15 s); past it the answer is 504.
const Deadline = 30 * time.Second

func ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), Deadline)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	list, err := s.Registry.List(c, r.PathValue("ws"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": list})
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var spec webhook.Spec
	if !s.decode(w, r, &spec) {
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	v, err := s.Registry.Create(c, r.PathValue("ws"), spec)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// WithHealth is a webhook as GET .../webhooks/{id} shows it: its
// definition and its endpoint's health (null when the execution log
// could not be read).
type WithHealth struct {
	webhook.View
	Health *publisher.Health `json:"health"`
	// NotSentWhileDisabled counts the events that matched a disabled
	// webhook since it was disabled.
	NotSentWhileDisabled *int `json:"not_sent_while_disabled,omitempty"`
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	v, err := s.Registry.Get(c, r.PathValue("ws"), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	out := WithHealth{View: v}
	if h, err := s.Publisher.Health(c, r.PathValue("ws"), v.ID); err == nil {
		out.Health = &h
	}
	if v.DisabledAt != nil {
		if n, err := s.Publisher.NotSent(c, r.PathValue("ws"), v.ID, *v.DisabledAt); err == nil {
			out.NotSentWhileDisabled = &n
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	var spec webhook.Spec
	if !s.decode(w, r, &spec) {
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	v, err := s.Registry.Update(c, r.PathValue("ws"), r.PathValue("id"), spec)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	if err := s.Registry.Delete(c, r.PathValue("ws"), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, cancel := ctx(r)
		defer cancel()
		v, err := s.Registry.SetActive(c, r.PathValue("ws"), r.PathValue("id"), active)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) testFire(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	res, err := s.Registry.TestFire(c, r.PathValue("ws"), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.explainTest(c, r.PathValue("ws"), &res))
}

func (s *Server) testResult(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	res, err := s.Registry.TestResult(c, r.PathValue("ws"), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": s.explainTest(c, r.PathValue("ws"), res)})
}

func (s *Server) dismissTest(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	if err := s.Registry.DismissTest(c, r.PathValue("ws"), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deliveries(w http.ResponseWriter, r *http.Request) {
	ws, id := r.PathValue("ws"), r.PathValue("id")
	q, bad := logQuery(r.URL.Query())
	if bad == nil {
		q.PageToken, bad = s.openPageToken(r.URL.Query().Get("page_token"), ws, id, q)
	}
	if bad != nil {
		writeError(w, http.StatusBadRequest, "invalid", bad.Field+" "+bad.Message, bad.Field)
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	hook, err := s.Registry.Get(c, ws, id)
	if err != nil {
		fail(w, err)
		return
	}
	page, err := s.Publisher.DeliveriesPage(c, ws, id, q)
	var qe *publisher.QueryError
	if errors.As(err, &qe) {
		writeError(w, http.StatusBadRequest, "invalid", qe.Field+" "+qe.Message, qe.Field)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]LogEntry, len(page.Entries))
	for i, e := range page.Entries {
		out[i] = explainEntry(c, e, hook)
	}
	body := map[string]any{"deliveries": out}
	if len(page.NextPageToken) > 0 {
		next, err := s.sealPageToken(page.NextPageToken, ws, id, q)
		if err != nil {
			fail(w, err)
			return
		}
		body["next_page_token"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) sealPageToken(tok []byte, ws, id string, q publisher.LogQuery) (string, error) {
	raw := base64.RawURLEncoding.EncodeToString(tok)
	if s.Pages == nil {
		return raw, nil
	}
	return s.Pages.Seal(raw, ws, id, pagePurpose(q))
}

// pagePurpose binds a sealed page token to the log and to the filters it
// pages through (status, event type, since, until; not the page size): a
// Temporal token continues one visibility query, so a token used with
// other filters does not open.
func pagePurpose(q publisher.LogQuery) string {
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	h := sha256.New()
	for _, v := range []string{q.Status, string(q.EventType), stamp(q.Since), stamp(q.Until)} {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	return logPagePurpose + ":" + hex.EncodeToString(h.Sum(nil))
}

// openPageToken returns the Temporal token a page_token stands for (nil
// for none), or the parameter's error.
func (s *Server) openPageToken(v, ws, id string, q publisher.LogQuery) ([]byte, *publisher.QueryError) {
	if v == "" {
		return nil, nil
	}
	bad := &publisher.QueryError{Field: "page_token", Message: "is not a page token of this log with these filters (use next_page_token from the previous page, with the same status, event_type, since and until)"}
	if s.Pages != nil {
		opened, err := s.Pages.Open(v, ws, id, pagePurpose(q))
		if err != nil {
			return nil, bad
		}
		v = opened
	}
	tok, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(tok) == 0 || !json.Valid(tok) || tok[0] != '{' {
		return nil, bad // Temporal's visibility stores make JSON objects
	}
	return tok, nil
}

// logQuery reads the log's query parameters: status, event_type, since
// and until (RFC 3339), page_size (or its older name limit; default 20)
// (page_token is read by openPageToken). The first bad one is named in
// the error.
func logQuery(v url.Values) (publisher.LogQuery, *publisher.QueryError) {
	q := publisher.LogQuery{Status: v.Get("status"), EventType: event.Type(v.Get("event_type")), PageSize: 20}
	for _, name := range []string{"limit", "page_size"} {
		if raw := v.Get(name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 || n > publisher.MaxLogPage {
				return q, &publisher.QueryError{Field: name, Message: fmt.Sprintf("must be a whole number from 1 to %d", publisher.MaxLogPage)}
			}
			q.PageSize = n
		}
	}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if raw := v.Get(t.name); raw != "" {
			at, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				return q, &publisher.QueryError{Field: t.name, Message: "must be a time in RFC 3339 (2026-03-31T00:00:00Z)"}
			}
			*t.to = at
		}
	}
	if err := q.Check(); err != nil {
		var qe *publisher.QueryError
		errors.As(err, &qe)
		return q, qe
	}
	return q, nil
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	var m publisher.Message
	if !s.decode(w, r, &m) {
		return
	}
	if ws := r.PathValue("ws"); m.Event.Workspace != ws {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("workspace must be %q, the workspace of the path, got %q", ws, m.Event.Workspace), "workspace")
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	receipt, err := s.Publisher.Publish(c, workflows.EventInput{Event: m.Event, Targets: m.Targets})
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusAccepted
	if receipt.Duplicate || receipt.NoMatch {
		status = http.StatusOK
	}
	writeJSON(w, status, receipt)
}

func (s *Server) showEvent(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	o, err := s.Publisher.Show(c, r.PathValue("ws"), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// redeliver sends one delivery again (Idempotency-Key: optional, makes
// the request idempotent for good); 202 with the redelivery's ID.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	ws, id := r.PathValue("ws"), r.PathValue("id")
	if _, err := s.Registry.Get(c, ws, id); err != nil {
		fail(w, err)
		return
	}
	red, err := s.Publisher.Redeliver(c, ws, id, r.PathValue("delivery"), publisher.RedeliverOptions{Key: r.Header.Get("Idempotency-Key")})
	if err != nil {
		failRefusal(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, red)
}

// RecoverRequest is the body of POST .../webhooks/{id}/recover.
type RecoverRequest struct {
	// Since is an RFC 3339 time: deliveries of events published since
	// then are recovered.
	Since string `json:"since"`
}

// startRecovery starts a recovery of the webhook's failed deliveries since a
// time; 202 with the job's ID.
func (s *Server) startRecovery(w http.ResponseWriter, r *http.Request) {
	var req RecoverRequest
	if !s.decode(w, r, &req) {
		return
	}
	since, err := time.Parse(time.RFC3339Nano, req.Since)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("since must be an RFC 3339 time such as 2026-03-31T10:00:00Z, got %q", req.Since), "since")
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	job, err := s.Publisher.StartRecovery(c, r.PathValue("ws"), r.PathValue("id"), since)
	if err != nil {
		failRefusal(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, job)
}

func (s *Server) recovery(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	p, err := s.Publisher.Recovery(c, r.PathValue("ws"), r.PathValue("id"), r.PathValue("job"))
	if err != nil {
		failRefusal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RecoveryView{Recovery: p, Help: recoveryHelp(p)})
}

func (s *Server) cancelRecovery(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	if err := s.Publisher.CancelRecovery(c, r.PathValue("ws"), r.PathValue("id"), r.PathValue("job")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"job_id": r.PathValue("job"), "state": "canceling"})
}
