package workflows

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/webhook"
)

// The worst case of an event's continue-as-new input: a 256 KiB event routed
// to 200 registry webhooks whose definitions fill their 4 KiB encoded
// bound, every delivery waiting with four attempts whose 2 KiB response
// excerpts and kept request and response headers JSON escapes six-fold. The whole input (event, routed targets and
// continuation) stays under Temporal's 2 MiB less the codec's margin, and
// the carried deliveries leave their URLs to the targets.
func TestContinueAsNewInputFitsTemporalsLimit(t *testing.T) {
	url := "https://receiver.example.com/h?" + strings.Repeat("a&", 560)
	if n := webhook.EncodedSize(webhook.Config{Name: "n", URL: url}); n > webhook.MaxDefinitionBytes || n < webhook.MaxDefinitionBytes-512 {
		t.Fatalf("test URL: definition encodes to %d bytes, want just under %d", n, webhook.MaxDefinitionBytes)
	}
	sealed := "sealed:v2:" + strings.Repeat("A", 120)
	now := time.Date(2026, 3, 31, 14, 30, 0, 0, time.UTC)
	var routed []endpoint.Routed
	var res []DeliveryResult
	var waits []*Wait
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("wh_%016d", i)
		routed = append(routed, endpoint.Routed{ID: id, URL: url, SealedSecret: sealed, PreviousSealedSecret: sealed, PreviousUntil: now})
		d := DeliveryResult{WebhookID: id, DeliveryID: DeliveryID("evt-outage", id), URL: url, Status: StatusPending}
		for n := 1; n <= delivery.MaxAttempts; n++ {
			d.Attempts = append(d.Attempts, delivery.Attempt{Number: n, StartedAt: now, DurationMS: 15000, Class: delivery.ClassTimeout,
				Error: "timeout: no complete response within 15s (context deadline exceeded)", ResponseBody: strings.Repeat("<", delivery.LoggedBodyLen),
				RequestHeaders: fullHeaders(), ResponseHeaders: fullHeaders()})
		}
		res = append(res, d)
		waits = append(waits, &Wait{Since: now, NextRound: 3, Queued: now})
	}
	in := EventInput{Event: bigEvent(t, nil), Routed: routed}
	budget, err := carryBudget(in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := carry(1, res, waits, budget)
	if err != nil {
		t.Fatalf("carry: %v", err)
	}
	in.Continued = c
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("budget for the deliveries %d bytes; whole continue-as-new input %d bytes (Temporal refuses over %d)", budget, len(b), maxInputBytes)
	if len(b) > maxInputBytes-codecMargin {
		t.Errorf("continue-as-new input: got %d bytes, want at most %d (2 MiB less the codec's margin)", len(b), maxInputBytes-codecMargin)
	}
	var back EventInput
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i, d := range back.Continued.Deliveries {
		if d.URL != "" || d.DeliveryResult.URL != "" {
			t.Fatalf("delivery %d carries its URL (%d bytes), want it left to the target", i, len(d.DeliveryResult.URL)+len(d.URL))
		}
		if len(d.Attempts) != delivery.MaxAttempts {
			t.Fatalf("delivery %d: got %d attempts carried, want %d", i, len(d.Attempts), delivery.MaxAttempts)
		}
	}
	if res[0].URL != url {
		t.Errorf("the running state's URL was changed by carry")
	}
}

// fullHeaders are kept headers at their bound, every byte one that JSON
// escapes six-fold.
func fullHeaders() map[string]string {
	h := http.Header{}
	for i := range delivery.KeptHeaders {
		h.Set(fmt.Sprintf("X-H%02d", i), strings.Repeat("<", delivery.KeptHeaderValue))
	}
	kept := delivery.KeepHeaders(h)
	if n := len(kept); n < 9 {
		panic(fmt.Sprintf("fullHeaders: %d kept, want the byte bound to stop them", n))
	}
	return kept
}

// A continuation that cannot fit what the event and its targets leave of
// the input limit is refused with the reason (the workflow then fails the
// parked deliveries with it, instead of a continue-as-new the server
// refuses, which would end the workflow and every delivery).
func TestCarryRefusesWhatCannotFit(t *testing.T) {
	res := []DeliveryResult{{WebhookID: "a", DeliveryID: "e:a", Status: StatusPending, Attempts: []delivery.Attempt{{Number: 1, Error: strings.Repeat("x", 500)}}}}
	_, err := carry(1, res, []*Wait{{NextRound: 1}}, 100)
	if err == nil || !strings.Contains(err.Error(), "input limit") {
		t.Errorf("got %v, want a refusal naming the input limit", err)
	}
}
