package integration

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

// A failed delivery, redelivered through the API after the receiver is
// fixed and the secret rotated: the same body bytes and X-Webhook-Id, a
// signature under the current secret; two requests at once send it once;
// the execution log shows the redelivery linked to the original.
func TestRedeliverFailedDelivery(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	var down atomic.Bool
	down.Store(true)
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone) // final: the delivery fails at once
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var wh view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var receipt publisher.Receipt
	if code, body := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o, err := pub.Wait(ctx, c.ws, receipt.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Deliveries) != 1 || o.Deliveries[0].Status != workflows.StatusFailed {
		t.Fatalf("got deliveries %+v, want one failed", o.Deliveries)
	}
	deliveryID := o.Deliveries[0].DeliveryID
	if want := receipt.EventID + ":" + wh.ID; deliveryID != want {
		t.Fatalf("got delivery ID %q, want %q", deliveryID, want)
	}

	// The webhook's health: one failed delivery in a row, and why.
	h := waitHealth(t, c, wh.ID, func(h publisher.Health) bool { return h.ConsecutiveFailures == 1 && h.Failed24h == 1 })
	if h.SuccessRate24h == nil || *h.SuccessRate24h != 0 || h.FailingSince == nil || !strings.Contains(h.LastError, "410") {
		t.Errorf("health after the failure: got %+v, want 0%% delivered, failing since the event, last error naming HTTP 410", h)
	}
	if h.LastHelp == nil || !strings.Contains(h.LastHelp.Problem, "HTTP 410 Gone") {
		t.Errorf("health's last help: got %+v, want a plain sentence naming HTTP 410 Gone", h.LastHelp)
	}

	// The customer fixes the receiver and rotates the secret.
	const rotated = "hari_rotated_secret_value_2"
	if code, body := c.do("PUT", c.hooks()+"/"+wh.ID, strings.Replace(fmtURL(closedWon, rc.URL+"/erp"), "hari_registry_secret", rotated, 1), nil); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, body)
	}
	down.Store(false)

	// Bad input names the field and starts nothing.
	var bad apiError
	if code, _ := c.do("POST", c.hooks()+"/"+wh.ID+"/deliveries/"+receipt.EventID+":wh_other/redeliver", "", &bad); code != http.StatusBadRequest || bad.Error.Field != "delivery_id" {
		t.Errorf("redeliver of another webhook's delivery: got %d %+v, want 400 on delivery_id", code, bad)
	}

	// Twice at once: one redelivery.
	path := c.hooks() + "/" + wh.ID + "/deliveries/" + deliveryID + "/redeliver"
	var wg sync.WaitGroup
	answers := make([]publisher.Redelivery, 2)
	codes := make([]int, 2)
	start := make(chan struct{})
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i], _ = c.do("POST", path, "", &answers[i])
		}()
	}
	close(start)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusAccepted {
			t.Fatalf("redeliver request %d: got %d, want 202", i+1, code)
		}
	}
	if answers[0].RedeliveryID == "" || answers[0].RedeliveryID != answers[1].RedeliveryID {
		t.Fatalf("got redelivery IDs %q and %q, want one ID for both requests", answers[0].RedeliveryID, answers[1].RedeliveryID)
	}
	if answers[0].Duplicate == answers[1].Duplicate {
		t.Errorf("got duplicate %v and %v, want exactly one request to start the redelivery", answers[0].Duplicate, answers[1].Duplicate)
	}
	if want := workflows.WorkflowID(c.ws, receipt.EventID); answers[0].RedeliveryOf != want {
		t.Errorf("got redelivery_of %q, want %q", answers[0].RedeliveryOf, want)
	}
	ro, err := pub.WaitRedelivery(ctx, c.ws, answers[0].RedeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Deliveries) != 1 || ro.Deliveries[0].Status != workflows.StatusDelivered || ro.Deliveries[0].DeliveryID != deliveryID {
		t.Fatalf("got redelivery outcome %+v, want delivered with delivery ID %s", ro.Deliveries, deliveryID)
	}

	time.Sleep(time.Second) // nothing more may arrive
	hits := rc.Hits()
	if len(hits) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the failed original, one redelivery)", len(hits))
	}
	first, again := hits[0], hits[1]
	if !bytes.Equal(first.Body, again.Body) {
		t.Errorf("redelivered body differs:\n got  %s\n want %s", again.Body, first.Body)
	}
	for _, h := range []string{signature.HeaderID, signature.HeaderEvent} {
		if got, want := again.Header.Get(h), first.Header.Get(h); got != want || got == "" {
			t.Errorf("%s: got %q, want %q", h, got, want)
		}
	}
	if got := again.Header.Get(signature.HeaderID); got != deliveryID {
		t.Errorf("X-Webhook-Id: got %q, want %q", got, deliveryID)
	}
	if !signature.VerifyRequest(rotated, again.Header, again.Body) {
		t.Error("the redelivery does not verify under the current secret")
	}
	if signature.Verify("hari_registry_secret", again.Body, again.Header.Get(signature.HeaderSignature)) {
		t.Error("X-Webhook-Signature of the redelivery is under the old secret, want the current one")
	}

	// Health after the redelivery: no failure in a row, half delivered.
	h = waitHealth(t, c, wh.ID, func(h publisher.Health) bool { return h.Delivered24h == 1 })
	if h.ConsecutiveFailures != 0 || h.FailingSince != nil || h.SuccessRate24h == nil || *h.SuccessRate24h != 0.5 {
		t.Errorf("health after the redelivery: got %+v, want 0 failures in a row and 50%% delivered", h)
	}

	// A new failure counts one in a row: the delivered redelivery before
	// it ends the streak.
	down.Store(true)
	var next publisher.Receipt
	if code, body := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &next); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	if _, err := pub.Wait(ctx, c.ws, next.EventID); err != nil {
		t.Fatal(err)
	}
	h = waitHealth(t, c, wh.ID, func(h publisher.Health) bool { return h.Failed24h == 2 })
	if h.ConsecutiveFailures != 1 || h.Delivered24h != 1 {
		t.Errorf("health after a new failure: got %+v, want 1 failure in a row, 1 delivered", h)
	}

	// The execution log: the redelivery, linked to the original.
	var log struct {
		Deliveries []publisher.LogEntry `json:"deliveries"`
	}
	if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/deliveries", "", &log); code != http.StatusOK {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	var linked, original int
	for _, e := range log.Deliveries {
		switch {
		case e.RedeliveryOf == workflows.WorkflowID(c.ws, receipt.EventID) && e.WorkflowID == answers[0].RedeliveryID && e.Delivery.Status == workflows.StatusDelivered:
			linked++
		case e.RedeliveryOf == "" && e.Delivery.Status == workflows.StatusFailed:
			original++
		}
		if e.EventType != "stage.changed" {
			t.Errorf("execution log entry %s: got event type %q, want stage.changed", e.WorkflowID, e.EventType)
		}
	}
	if linked != 1 || original != 2 {
		t.Errorf("execution log: got %d linked redeliveries and %d failed originals, want 1 and 2: %+v", linked, original, log.Deliveries)
	}
}

// waitHealth reads GET .../webhooks/{id} until its health satisfies ok
// (visibility is eventually consistent).
func waitHealth(t *testing.T, c *apiClient, id string, ok func(publisher.Health) bool) publisher.Health {
	t.Helper()
	var got struct {
		ID     string            `json:"id"`
		Health *publisher.Health `json:"health"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if code, body := c.do("GET", c.hooks()+"/"+id, "", &got); code != http.StatusOK || got.ID != id {
			t.Fatalf("get: %d %s", code, body)
		}
		if got.Health != nil && ok(*got.Health) {
			return *got.Health
		}
		if time.Now().After(deadline) {
			t.Fatalf("health: got %+v, not the expected figures after 20 s", got.Health)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Nothing is sent to a deactivated webhook: a redelivery or a recovery of
// its failed delivery answers 409 "inactive" and the receiver gets nothing.
func TestNoRedeliveryToAnInactiveWebhook(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	var down atomic.Bool
	down.Store(true)
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var wh view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	since := time.Now().Add(-time.Second).UTC()
	var receipt publisher.Receipt
	if code, body := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o, err := pub.Wait(ctx, c.ws, receipt.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Deliveries) != 1 || o.Deliveries[0].Status != workflows.StatusFailed {
		t.Fatalf("got deliveries %+v, want one failed", o.Deliveries)
	}
	hits := len(rc.Hits())
	down.Store(false)
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/deactivate", "", nil); code != http.StatusOK {
		t.Fatalf("deactivate: %d %s", code, body)
	}
	var e apiError
	if code, _ := c.do("POST", c.hooks()+"/"+wh.ID+"/deliveries/"+o.Deliveries[0].DeliveryID+"/redeliver", "", &e); code != http.StatusConflict || e.Error.Code != "inactive" {
		t.Errorf("redeliver to an inactive webhook: got %d %+v, want 409 inactive", code, e)
	}
	e = apiError{}
	if code, _ := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Format(time.RFC3339Nano)+`"}`, &e); code != http.StatusConflict || e.Error.Code != "inactive" {
		t.Errorf("recover to an inactive webhook: got %d %+v, want 409 inactive", code, e)
	}
	time.Sleep(2 * time.Second)
	if got := len(rc.Hits()); got != hits {
		t.Errorf("the receiver got %d requests after the deactivation, want 0", got-hits)
	}
}
