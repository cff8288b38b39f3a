package api

import (
	"context"
	"sort"
	"time"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// TestOutcome is a Test fire result as the API shows it: with its failure
// in plain language (Help, absent on success).
type TestOutcome struct {
	workflows.TestResult
	Help *delivery.Help `json:"help,omitempty"`
}

// explainTest adds the plain-language help to a Test fire result; the
// webhook's URL names the host and port (a webhook gone since keeps the
// help without them).
func (s *Server) explainTest(c context.Context, ws string, res *workflows.TestResult) *TestOutcome {
	if res == nil {
		return nil
	}
	out := &TestOutcome{TestResult: *res}
	if res.Error == "" && res.Succeeded {
		return out
	}
	target := ""
	if v, err := s.Registry.Get(c, ws, res.WebhookID); err == nil {
		target = v.URL
	}
	out.Help = delivery.ExplainTestFire(delivery.Class(res.ErrorClass), res.StatusCode, res.DurationMS, target)
	return out
}

// LogEntry is one delivery of the execution log as the API shows it:
// Help[i] puts attempt i's failure in plain language (null on success),
// Requests[i] lists the headers attempt i sent (as recorded when it was
// sent; RequestsRebuilt[i] is true for an attempt recorded before
// attempts kept them, whose headers are rebuilt from the webhook's
// current settings), and NextRetryAt says when a delivery under way tries
// again.
type LogEntry struct {
	publisher.LogEntry
	Help            []*delivery.Help `json:"help"`
	Requests        [][]Header       `json:"requests"`
	RequestsRebuilt []bool           `json:"requests_rebuilt"`
	NextRetryAt     *time.Time       `json:"next_retry_at,omitempty"`
}

// NotKept stands for a signature header's value, which the log does not
// keep (it is an HMAC of the body with the secret).
const NotKept = delivery.RedactedSignature

func explainEntry(ctx context.Context, e publisher.LogEntry, hook webhook.View) LogEntry {
	d := e.Delivery
	out := LogEntry{LogEntry: e, Help: make([]*delivery.Help, len(d.Attempts)), Requests: make([][]Header, len(d.Attempts)), RequestsRebuilt: make([]bool, len(d.Attempts))}
	for j, a := range d.Attempts {
		out.Help[j] = delivery.Explain(a.Class, a.StatusCode, a.DurationMS, d.URL)
		if a.RequestHeaders != nil {
			out.Requests[j] = sortedHeaders(a.RequestHeaders)
			continue
		}
		out.Requests[j], out.RequestsRebuilt[j] = attemptHeaders(ctx, d, a, e.EventType, hook), true
	}
	if d.Status == workflows.StatusPending {
		if at, ok := delivery.NextRetryAt(d.Attempts); ok {
			out.NextRetryAt = &at
		}
	}
	return out
}

// sortedHeaders lists recorded headers in name order.
func sortedHeaders(h map[string]string) []Header {
	out := make([]Header, 0, len(h))
	for name, v := range h {
		out = append(out, Header{Name: name, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// attemptHeaders are the headers an attempt recorded before attempts kept
// them sent, rebuilt by the request builder of deliveries (the signature values are not kept; the secret
// settings are the webhook's current ones).
func attemptHeaders(ctx context.Context, d workflows.DeliveryResult, a delivery.Attempt, eventType string, hook webhook.View) []Header {
	in := activities.Request{URL: PlaceholderURL, DeliveryID: d.DeliveryID, EventType: eventType, Attempt: a.Number, At: a.StartedAt, NoSecretHeader: !hook.SecretHeader}
	if hook.HasSecret {
		in.Secret = PlaceholderSecret
	}
	req, err := activities.NewRequest(ctx, in)
	if err != nil {
		return nil
	}
	var hs []Header
	for name, vals := range req.Header {
		for _, v := range vals {
			switch name {
			case signature.HeaderSignature, signature.HeaderStdSignature:
				v = NotKept
			case signature.HeaderSecret:
				v = delivery.RedactedSecret
			}
			hs = append(hs, Header{Name: name, Value: v})
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	return hs
}
