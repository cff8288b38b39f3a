package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/registry"
)

// The event workflow's router (registry.FailFast) never recovers an ended
// registry: a registry terminated by accident answers ErrUnavailable at
// once and stays ended (the sweep, an API call or `starter webhooks
// recover` brings it back); a retired one routes nothing.
func TestFailFastRoutingDoesNotRecover(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL), nil); code != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", code, body)
	}
	var ev event.Event
	if err := json.Unmarshal([]byte(oppEvent(c.ws, "Closed Won")), &ev); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	router := reg.FailFast()
	if routed, err := router.Routes(ctx, ev); err != nil || len(routed) != 1 {
		t.Fatalf("routes of a running registry: got %d (%v), want 1", len(routed), err)
	}

	terminateRegistry(t, c.ws)
	start := time.Now()
	routed, err := router.Routes(ctx, ev)
	took := time.Since(start)
	if !errors.Is(err, registry.ErrUnavailable) || routed != nil {
		t.Fatalf("routes of a terminated registry: got %v, %v, want registry.ErrUnavailable", routed, err)
	}
	if took > 3*time.Second {
		t.Errorf("routes of a terminated registry took %s, want under 3 s (no recovery)", took)
	}
	if st, _ := registryRun(t, c.ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("registry after routing: got %s, want still terminated (routing does not recover)", st)
	}

	if _, err := reg.Recover(ctx, c.ws, registry.RecoverOptions{}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if _, err := reg.Retire(ctx, c.ws); err != nil {
		t.Fatalf("retire: %v", err)
	}
	if routed, err := router.Routes(ctx, ev); err != nil || len(routed) != 0 {
		t.Errorf("routes of a retired registry: got %v, %v, want none and no error", routed, err)
	}
}
