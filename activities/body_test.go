package activities

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hari-crm/webhooks/delivery"
)

// fixedQuerier answers the body query with body (or fails with err) and
// records what it was asked.
type fixedQuerier struct {
	body []byte
	err  error
	mu   sync.Mutex
	asks []string // "queryType deliveryID"
}

func (q *fixedQuerier) QueryWorkflow(_ context.Context, _, _, queryType string, args ...any) (converter.EncodedValue, error) {
	q.mu.Lock()
	q.asks = append(q.asks, queryType+" "+args[0].(string))
	q.mu.Unlock()
	if q.err != nil {
		return nil, q.err
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(q.body)
	if err != nil {
		return nil, err
	}
	return encoded{p}, nil
}

type encoded struct{ p *commonpb.Payloads }

func (e encoded) HasValue() bool  { return true }
func (e encoded) Get(v any) error { return converter.GetDefaultDataConverter().FromPayloads(e.p, v) }

// DeliverWebhook sends the body its workflow answers with; when the body
// cannot be fetched it sends nothing and reports WebhookBodyUnavailable
// (no attempt spent), never an empty POST.
func TestDeliverWebhookFetchesTheBody(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
	}))
	defer srv.Close()
	client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}})
	in := DeliverInput{DeliveryID: "evt:wh", Workspace: "ws", WebhookID: "wh", URL: srv.URL}

	tests := []struct {
		name     string
		q        WorkflowQuerier
		wantSent string
		wantType string
	}{
		{name: "answered", q: &fixedQuerier{body: []byte(`{"event":"record.created"}`)}, wantSent: `{"event":"record.created"}`},
		{name: "query fails", q: &fixedQuerier{err: errors.New("context deadline exceeded")}, wantType: delivery.ErrTypeBodyUnavailable},
		{name: "empty answer", q: &fixedQuerier{body: []byte{}}, wantType: delivery.ErrTypeBodyUnavailable},
		{name: "no client", q: nil, wantType: delivery.ErrTypeBodyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			a := &Activities{Client: client, Workflows: tt.q}
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(a)
			_, err := env.ExecuteActivity(a.DeliverWebhook, in)
			mu.Lock()
			sent := got
			mu.Unlock()
			if tt.wantType == "" {
				if err != nil {
					t.Fatalf("got %v, want delivered", err)
				}
				if len(sent) != 1 || string(sent[0]) != tt.wantSent {
					t.Errorf("receiver got %q, want one request with %s", sent, tt.wantSent)
				}
				if q := tt.q.(*fixedQuerier); len(q.asks) != 1 || q.asks[0] != QueryDeliveryBody+" evt:wh" {
					t.Errorf("queries: got %q, want one %s for evt:wh", q.asks, QueryDeliveryBody)
				}
				return
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != tt.wantType || !appErr.NonRetryable() {
				t.Fatalf("got %v, want a non-retryable %s", err, tt.wantType)
			}
			if !strings.Contains(appErr.Error(), "get delivery body") {
				t.Errorf("error %q does not say what failed", appErr.Error())
			}
			if len(sent) != 0 {
				t.Errorf("receiver got %d requests, want none", len(sent))
			}
		})
	}
}
