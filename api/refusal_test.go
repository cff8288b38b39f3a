package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// knownRegistry finds every webhook.
type knownRegistry struct{ fakeRegistry }

func (knownRegistry) Get(_ context.Context, ws, id string) (webhook.View, error) {
	return webhook.View{ID: id, Workspace: ws}, nil
}

// refusingPublisher refuses Redeliver and Recover with err, and reports
// progress for a recovery.
type refusingPublisher struct {
	fakePublisher
	err      error
	progress publisher.Recovery
}

func (p refusingPublisher) Redeliver(context.Context, string, string, string, publisher.RedeliverOptions) (publisher.Redelivery, error) {
	return publisher.Redelivery{}, p.err
}

func (p refusingPublisher) StartRecovery(context.Context, string, string, time.Time) (publisher.RecoveryJob, error) {
	return publisher.RecoveryJob{}, p.err
}

func (p refusingPublisher) Recovery(context.Context, string, string, string) (publisher.Recovery, error) {
	return p.progress, p.err
}

// A refused Redeliver or Recover answers its usual error with a sentence
// for people and a next step (the Settings page shows them, the message
// behind a disclosure).
func TestRefusedRecoveryIsExplained(t *testing.T) {
	since := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, method, path string
		err                error
		status             int
		code, problem      string
		next               string
	}{
		{"redeliver pending", "POST", "/deliveries/d1/redeliver", fmt.Errorf("%w: d1", publisher.ErrPending), 409, "pending", "still being attempted", "Wait for its outcome"},
		{"redeliver inactive", "POST", "/deliveries/d1/redeliver", fmt.Errorf("%w: webhook wh is deactivated", publisher.ErrInactive), 409, "inactive", "The webhook is deactivated", "Activate it"},
		{"redeliver too often", "POST", "/deliveries/d1/redeliver", publisher.ErrTooManyRedeliveries, 409, "conflict", "sent again 50 times already", "Fix your endpoint"},
		{"redeliver gone", "POST", "/deliveries/d1/redeliver", publisher.ErrNotFound, 404, "not_found", "no longer exists", "Reload the page"},
		{"recover disabled", "POST", "/recover", fmt.Errorf("%w: webhook wh was disabled", publisher.ErrDisabled), 409, "disabled", "HARi disabled this webhook", "Re-enable"},
		{"recover running", "POST", "/recover", &publisher.RecoveryRunningError{JobID: "abc", Since: since}, 409, "recovery_running", "already running", "cancel it"},
		{"recover unavailable", "POST", "/recover", fmt.Errorf("dial tcp 10.0.0.1:7233: i/o timeout"), 503, "unavailable", "did not answer in time", "Try again"},
	}
	for _, tt := range tests {
		s := &Server{Registry: knownRegistry{}, Publisher: refusingPublisher{err: tt.err}, Open: true}
		body := ""
		if tt.path == "/recover" {
			body = `{"since":"2026-03-31T10:00:00Z"}`
		}
		req := httptest.NewRequest(tt.method, "/api/v1/workspaces/acme/webhooks/wh_1"+tt.path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out struct{ Error Error }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: answer %s is not JSON: %v", tt.name, rec.Body, err)
		}
		e := out.Error
		if rec.Code != tt.status || e.Code != tt.code {
			t.Errorf("%s: got %d %s, want %d %s", tt.name, rec.Code, e.Code, tt.status, tt.code)
		}
		if e.Help == nil || !strings.Contains(e.Help.Problem, tt.problem) || !strings.Contains(e.Help.Next, tt.next) {
			t.Errorf("%s: help got %+v, want a problem with %q and a next step with %q", tt.name, e.Help, tt.problem, tt.next)
		}
		if e.Message == "" {
			t.Errorf("%s: got no message, want the technical detail kept", tt.name)
		}
	}
}

// A recovery that fell short says how in plain language; one that went
// well says nothing more.
func TestRecoveryProgressIsExplained(t *testing.T) {
	tests := []struct {
		name    string
		p       workflows.RecoveryProgress
		problem string
	}{
		{"listing failed", workflows.RecoveryProgress{State: workflows.RecoveryFailed, LastError: "listing the failed deliveries: deadline exceeded"}, "could not list the failed deliveries"},
		{"stopped", workflows.RecoveryProgress{State: workflows.RecoveryStopped, Total: 3, Sent: 1, LastError: "webhook wh is deactivated"}, "webhook was deactivated or disabled while it ran"},
		{"some failed", workflows.RecoveryProgress{State: workflows.RecoveryDone, Total: 3, Sent: 1, Failed: 2, LastError: "d3: attempt 3: HTTP 500"}, "2 deliveries failed again"},
		{"all sent", workflows.RecoveryProgress{State: workflows.RecoveryDone, Total: 3, Sent: 3}, ""},
	}
	for _, tt := range tests {
		s := &Server{Registry: knownRegistry{}, Publisher: refusingPublisher{progress: publisher.Recovery{JobID: "0123456789abcdef", RecoveryProgress: tt.p, Done: true}}, Open: true}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/workspaces/acme/webhooks/wh_1/recoveries/0123456789abcdef", nil))
		var v RecoveryView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("%s: got %d %s", tt.name, rec.Code, rec.Body)
		}
		if v.State != tt.p.State || v.Sent != tt.p.Sent || v.LastError != tt.p.LastError || !v.Done {
			t.Errorf("%s: progress got %+v, want %+v kept", tt.name, v.Recovery, tt.p)
		}
		switch {
		case tt.problem == "" && v.Help != nil:
			t.Errorf("%s: help got %+v, want none", tt.name, v.Help)
		case tt.problem != "" && (v.Help == nil || !strings.Contains(v.Help.Problem, tt.problem) || v.Help.Next == ""):
			t.Errorf("%s: help got %+v, want %q with a next step", tt.name, v.Help, tt.problem)
		}
	}
}
