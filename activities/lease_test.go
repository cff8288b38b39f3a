package activities

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/hari-crm/webhooks/internal/redistest"
	"github.com/hari-crm/webhooks/limiter"
)

// slowQuerier answers the body query after a delay per delivery ID.
type slowQuerier struct{ delay map[string]time.Duration }

func (q *slowQuerier) QueryWorkflow(ctx context.Context, _, _, _ string, args ...any) (converter.EncodedValue, error) {
	time.Sleep(q.delay[args[0].(string)])
	p, err := converter.GetDefaultDataConverter().ToPayloads([]byte(`{"x":1}`))
	if err != nil {
		return nil, err
	}
	return encoded{p}, nil
}

// A slot's lease covers the attempt, not the body query: a slow body query
// must not eat into the lease and let a second attempt of the workspace
// start while the first still runs. Limit 1, lease 400 ms, attempts of
// 300 ms against a receiver that hangs, a body query of 250 ms: at most
// one request may be in flight at the receiver.
func TestBodyQueryDoesNotSpendTheLease(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // then the server notices the client leaving
		<-r.Context().Done()      // hang until the attempt gives up
	}))
	defer srv.Close()
	rs := redistest.Start(t)
	lim := limiter.NewRedis(redis.NewClient(&redis.Options{Addr: rs.Addr}), 1, 400*time.Millisecond)
	lim.PollInterval = 20 * time.Millisecond
	client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}})
	// Requests in flight are counted where the attempt makes them: the
	// server notices a cancelled request only some time later.
	counter := &countingTransport{next: client.Transport}
	client.Transport = counter
	a := &Activities{Client: client, Limiter: lim, AttemptTimeout: 300 * time.Millisecond, SlotWait: 2 * time.Second,
		Workflows: &slowQuerier{delay: map[string]time.Duration{"e1:wh": 250 * time.Millisecond, "e2:wh": 0}}}
	var wg sync.WaitGroup
	for i, id := range []string{"e1:wh", "e2:wh"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(a)
			_, err := env.ExecuteActivity(a.DeliverWebhook, DeliverInput{DeliveryID: id, Workspace: "ws", WebhookID: "wh", URL: srv.URL})
			t.Logf("%s: %v", id, err)
		}()
	}
	wg.Wait()
	if got := counter.peak.Load(); got != 1 {
		t.Errorf("peak requests in flight at the receiver with a workspace limit of 1: got %d, want 1", got)
	}
}

// countingTransport counts the requests in flight through it and keeps
// the peak.
type countingTransport struct {
	next      http.RoundTripper
	cur, peak atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.cur.Add(1)
	defer c.cur.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	return c.next.RoundTrip(r)
}
