// Package integration runs the product against a real Temporal dev server
// and real HTTPS receivers.
package integration

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/api/token"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/netguard"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/tclient"
)

// The tests' receivers listen on 127.0.0.1: the one range the guard lets
// through, as in development.
var guard = netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})

// noInvalidNames is the shared worker's DNS: a name under .invalid (which
// never exists, RFC 6761) fails at once without a query leaving the
// machine, as a name without a DNS record would; every other name goes to
// the system's resolver, as before.
type noInvalidNames struct{}

func (noInvalidNames) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if h := strings.TrimSuffix(strings.ToLower(host), "."); h == "invalid" || strings.HasSuffix(h, ".invalid") {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}

var (
	srv *devtest.Server
	tc  client.Client
	pub *publisher.Publisher
	reg *registry.Client
	// apiKeys signs the HTTP API's tokens in these tests; apiKeySpec is
	// the same ring as HARI_API_KEYS, for the worker binary.
	apiKeys    *token.Keys
	apiKeySpec string
	// stack is the running production shape when HARI_STACK=1 (the
	// TestStack tests need it; the others run against either).
	stack *devtest.Stack
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if apiKeySpec, err = token.NewKeySpec("it1"); err == nil {
		apiKeys, err = token.ParseKeys(apiKeySpec)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: api keys:", err)
		return 1
	}
	if devtest.StackWanted() {
		// The production shape: Temporal on PostgreSQL and two worker
		// processes (make stack-test); no in-process worker below.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		stack, err = devtest.StartStack(ctx)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: start the stack:", err)
			return 1
		}
		defer stack.Stop()
		srv = stack.Server
	} else {
		srv, err = devtest.NewServer(context.Background(), "")
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: start temporal dev server:", err)
			return 1
		}
		defer srv.Dev.Stop()
	}
	tc, err = tclient.Dial(tclient.Config{Address: srv.HostPort, Namespace: "default", Keys: srv.Keys}, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer tc.Close()

	// Every httptest TLS server presents the same certificate: trust it.
	probe := httptest.NewTLSServer(nil)
	rc := &devtest.Receiver{Server: probe}
	tlsConf := devtest.TLSConfig(rc)
	probe.Close()

	reg = registry.New(tc, registry.Options{Sealer: srv.Keys, Hosts: guard})
	// RouteWait -1: the shared publisher always routes before the start,
	// so that tests reading the receipt (matched, no_match) do not depend
	// on how busy the machine is; the fallback to routing in the workflow
	// has its own test (route_later_test.go).
	pub = publisher.New(tc, publisher.Options{AllowDirectSecrets: true, DataConverter: codec.DataConverter(srv.Keys), Router: reg, Hosts: guard, RouteWait: -1})
	if stack != nil {
		return m.Run()
	}
	w, err := service.NewWorker(tc, service.Options{AllowDirectSecrets: true, HTTPClient: activities.NewHTTPClient(activities.ClientOptions{TLS: tlsConf, Control: guard.Control, Resolver: noInvalidNames{}}), Secrets: srv.Keys, Recovery: pub})
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: start worker:", err)
		return 1
	}
	defer w.Stop()
	return m.Run()
}
