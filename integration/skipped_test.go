package integration

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

// twoMatchingWebhooks creates two webhooks of c's workspace that both
// match closedWonEvent: a, whose receiver answers with aCode while down
// is true (200 after), and b, whose receiver always answers 200.
func twoMatchingWebhooks(t *testing.T, c *apiClient, aCode int, down *atomic.Bool) (a, b view, rcA, rcB *devtest.Receiver) {
	t.Helper()
	rcA = devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(aCode)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	rcB = devtest.NewReceiver(t, codes(http.StatusOK))
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rcA.URL+"/a"), &a); code != http.StatusCreated {
		t.Fatalf("create a: %d %s", code, body)
	}
	if code, body := c.do("POST", c.hooks(), fmtURL(strings.Replace(closedWon, "to ERP", "to the warehouse", 1), rcB.URL+"/b"), &b); code != http.StatusCreated {
		t.Fatalf("create b: %d %s", code, body)
	}
	return a, b, rcA, rcB
}

// statusOf returns the status of webhook id's delivery in o ("" if none).
func statusOf(o publisher.Outcome, id string) string {
	for _, d := range o.Deliveries {
		if d.WebhookID == id {
			return d.Status
		}
	}
	return ""
}

// recoverAndWait recovers webhook id's deliveries since since through the
// API and returns the job's final progress.
func recoverAndWait(t *testing.T, c *apiClient, id string, since time.Time) publisher.Recovery {
	t.Helper()
	var job publisher.RecoveryJob
	if code, body := c.do("POST", c.hooks()+"/"+id+"/recover", `{"since": "`+since.UTC().Format(time.RFC3339Nano)+`"}`, &job); code != http.StatusAccepted {
		t.Fatalf("recover: got %d %s, want 202", code, body)
	}
	var p publisher.Recovery
	for deadline := time.Now().Add(3 * time.Minute); !p.Done; time.Sleep(200 * time.Millisecond) {
		if code, body := c.do("GET", c.hooks()+"/"+id+"/recoveries/"+job.JobID, "", &p); code != http.StatusOK {
			t.Fatalf("recovery progress: got %d %s, want 200", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("recovery not done after 3 minutes: %+v", p)
		}
	}
	return p
}

// deliveriesOf counts the requests rc got per X-Webhook-Id among hits
// (Test fire requests left out).
func deliveriesOf(hits []devtest.Hit) map[string]int {
	per := map[string]int{}
	for _, h := range hits {
		if id := h.Header.Get(signature.HeaderID); !strings.HasPrefix(id, "test-") {
			per[id]++
		}
	}
	return per
}

// checkOncePerEvent fails unless per holds exactly one request for the
// delivery of each event to webhook id.
func checkOncePerEvent(t *testing.T, per map[string]int, outs []publisher.Outcome, id string) {
	t.Helper()
	if len(per) != len(outs) {
		t.Errorf("webhook %s: got %d distinct deliveries %v, want %d", id, len(per), per, len(outs))
	}
	for _, o := range outs {
		if n := per[workflows.DeliveryID(o.EventID, id)]; n != 1 {
			t.Errorf("delivery %s: got %d requests, want 1", workflows.DeliveryID(o.EventID, id), n)
		}
	}
}

// Events that matched a disabled webhook and an active one are delivered
// (nothing failed; not partial, which health and auto-disable read as a
// failure): the active webhook's health shows them all delivered, 100 %
// and no streak, the disabled one's none delivered; they are counted in the
// disabled webhook's not_sent_while_disabled, and after Re-enable a
// recovery sends exactly those to it, once each, and nothing more to the
// other webhook.
func TestNotSentWhileDisabledCountsEventsThatAlsoWentElsewhere(t *testing.T) {
	t.Parallel()
	const k = 3
	c := newAPI(t)
	var down atomic.Bool // a's receiver is fine: a was disabled by hand
	a, b, rcA, rcB := twoMatchingWebhooks(t, c, http.StatusOK, &down)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := reg.Disable(ctx, c.ws, a.ID, "test: its endpoint kept failing", time.Time{}); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Second)

	outs := publishAndWait(t, ctx, c.ws, k)
	for _, o := range outs {
		if sa, sb := statusOf(o, a.ID), statusOf(o, b.ID); sa != workflows.StatusSkipped || sb != workflows.StatusDelivered {
			t.Fatalf("event %s: got a %q and b %q, want a skipped and b delivered", o.EventID, sa, sb)
		}
		if st := deliveryStatus(t, c.ws, o.EventID); st != workflows.StatusDelivered {
			t.Errorf("event %s: HariDeliveryStatus %q, want %q", o.EventID, st, workflows.StatusDelivered)
		}
	}
	var hb stateView
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if code, body := c.do("GET", c.hooks()+"/"+b.ID, "", &hb); code != http.StatusOK {
			t.Fatalf("get b: %d %s", code, body)
		}
		if hb.Health != nil && hb.Health.Delivered24h == k {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's health: got %+v, want %d delivered in 24 h", hb.Health, k)
		}
	}
	if h := hb.Health; h.Failed24h != 0 || h.SuccessRate24h == nil || *h.SuccessRate24h != 1 || h.ConsecutiveFailures != 0 || h.FailingSince != nil {
		t.Errorf("b's health: got %d failed, rate %v, %d in a row since %v, want 0 failed, rate 1, no streak", h.Failed24h, h.SuccessRate24h, h.ConsecutiveFailures, h.FailingSince)
	}
	var ha stateView
	if code, body := c.do("GET", c.hooks()+"/"+a.ID, "", &ha); code != http.StatusOK || ha.Health == nil {
		t.Fatalf("get a: %d %s", code, body)
	}
	if h := ha.Health; h.Delivered24h != 0 || h.Failed24h != 0 || h.SuccessRate24h != nil || h.ConsecutiveFailures != 0 {
		t.Errorf("disabled a's health: got %d delivered, %d failed, rate %v, %d in a row, want none (its deliveries were skipped)", h.Delivered24h, h.Failed24h, h.SuccessRate24h, h.ConsecutiveFailures)
	}
	var v stateView
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if code, body := c.do("GET", c.hooks()+"/"+a.ID, "", &v); code != http.StatusOK {
			t.Fatalf("get: %d %s", code, body)
		}
		if v.NotSentWhileDisabled != nil && *v.NotSentWhileDisabled == k {
			break
		}
		if time.Now().After(deadline) {
			got := "absent"
			if v.NotSentWhileDisabled != nil {
				got = strconv.Itoa(*v.NotSentWhileDisabled)
			}
			t.Fatalf("not_sent_while_disabled: got %s, want %d", got, k)
		}
	}
	if n := len(rcA.Hits()); n != 0 {
		t.Errorf("disabled webhook's receiver got %d requests, want 0", n)
	}

	var back stateView
	if code, body := c.do("POST", c.hooks()+"/"+a.ID+"/activate", "", &back); code != http.StatusOK || back.State != "active" {
		t.Fatalf("re-enable: got %d %s, want 200 active", code, body)
	}
	bBefore := len(rcB.Hits())
	p := recoverAndWait(t, c, a.ID, since)
	if p.State != workflows.RecoveryDone || p.Total != k || p.Sent != k {
		t.Errorf("recovery: got %+v, want done with %d of %d sent", p.RecoveryProgress, k, k)
	}
	checkOncePerEvent(t, deliveriesOf(rcA.Hits()), outs, a.ID)
	if n := len(rcB.Hits()); n != bBefore {
		t.Errorf("the other webhook's receiver got %d requests during the recovery, want 0", n-bBefore)
	}
}

// A delivery that failed to webhook a in an event delivered to webhook b
// (status partial) is found and sent again by a recovery of a, once, and
// b gets nothing more.
func TestRecoverFindsFailedDeliveriesOfPartlyDeliveredEvents(t *testing.T) {
	t.Parallel()
	const k = 3
	c := newAPI(t)
	var down atomic.Bool
	down.Store(true)
	a, b, rcA, rcB := twoMatchingWebhooks(t, c, http.StatusGone, &down)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	since := time.Now().Add(-time.Second)

	outs := publishAndWait(t, ctx, c.ws, k)
	for _, o := range outs {
		if sa, sb := statusOf(o, a.ID), statusOf(o, b.ID); sa != workflows.StatusFailed || sb != workflows.StatusDelivered {
			t.Fatalf("event %s: got a %q and b %q, want a failed and b delivered", o.EventID, sa, sb)
		}
	}
	waitListed(t, ctx, c.ws, a.ID, since, k)
	down.Store(false)
	failedHits := len(rcA.Hits()) // one 410 per event: not retried

	bBefore := len(rcB.Hits())
	p := recoverAndWait(t, c, a.ID, since)
	if p.State != workflows.RecoveryDone || p.Total != k || p.Sent != k {
		t.Errorf("recovery: got %+v, want done with %d of %d sent", p.RecoveryProgress, k, k)
	}
	checkOncePerEvent(t, deliveriesOf(rcA.Hits()[failedHits:]), outs, a.ID)
	if n := len(rcB.Hits()); n != bBefore {
		t.Errorf("the other webhook's receiver got %d requests during the recovery, want 0", n-bBefore)
	}
}
