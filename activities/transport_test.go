package activities

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/delivery"
)

// Many concurrent attempts to one receiver host never open more than
// MaxConnsPerHost connections to it; they all still get through.
func TestMaxConnsPerHostCapsConnectionsToOneHost(t *testing.T) {
	var open, peak atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := open.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.StartTLS() // HTTP/1.1: one request per connection at a time
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	const limit, attempts = 3, 24
	client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool}, MaxConnsPerHost: limit})

	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := Send(context.Background(), client, Request{URL: srv.URL, Body: []byte(`{}`), Attempt: 1}); !a.Succeeded() {
				failed.Add(1)
				t.Errorf("attempt failed: %s", a.Error)
			}
		}()
	}
	wg.Wait()
	if got := peak.Load(); got > limit || got < 1 {
		t.Errorf("peak connections to the receiver: got %d, want 1..%d", got, limit)
	}
	if failed.Load() != 0 {
		t.Errorf("failed attempts: got %d, want 0", failed.Load())
	}
}

// A receiver that accepts the TCP connection and never answers the TLS
// handshake costs the attempt its whole timeout, not Go's default TLS
// handshake timeout of 10 s: the error is a timeout at the attempt timeout.
func TestStalledTLSHandshakeRunsToTheAttemptTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 11 s")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	const timeout = 11 * time.Second // longer than Go's 10 s default
	client := NewHTTPClient(ClientOptions{})
	a := Send(context.Background(), client, Request{URL: "https://" + ln.Addr().String() + "/", Body: []byte(`{}`), Attempt: 1, Timeout: timeout})
	if a.Class != delivery.ClassTimeout {
		t.Fatalf("class: got %q (%s), want %q", a.Class, a.Error, delivery.ClassTimeout)
	}
	if got := time.Duration(a.DurationMS) * time.Millisecond; got < timeout-100*time.Millisecond || got > timeout+2*time.Second {
		t.Errorf("attempt ended after %s, want about %s", got, timeout)
	}
	if !strings.Contains(a.Error, "within 11s") {
		t.Errorf("error: got %q, want it to name the 11s attempt timeout", a.Error)
	}
}

// Workspaces share the worker's HTTP client. When one workspace's webhooks
// on a shared receiver host (an integration platform) hang, 64 attempts in
// flight there (two workspaces, each under its limit of 50) must not make
// another workspace's healthy webhook on the same host time out: nothing
// caps the connections per host across workspaces. Over HTTP/1.1 (one
// request per connection) and over HTTP/2 (streams of shared connections).
func TestHangingWorkspaceDoesNotBlockASharedHost(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			var proto atomic.Value
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body) // then the server notices the client leaving
				if strings.HasPrefix(r.URL.Path, "/hang") {
					<-r.Context().Done()
					return
				}
				proto.Store(r.Proto)
				w.WriteHeader(http.StatusOK)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool}})

			var wg sync.WaitGroup
			for i := 0; i < 64; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					Send(context.Background(), client, Request{URL: srv.URL + "/hang", Body: []byte(`{}`), Timeout: 3 * time.Second})
				}()
			}
			time.Sleep(500 * time.Millisecond) // the hanging attempts are in flight
			att := Send(context.Background(), client, Request{URL: srv.URL + "/ok", Body: []byte(`{}`), Timeout: 2 * time.Second})
			wg.Wait()
			if !att.Succeeded() {
				t.Fatalf("healthy webhook on the shared host: got class %q status %d after %d ms (%s), want 200", att.Class, att.StatusCode, att.DurationMS, att.Error)
			}
			want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
			if got, _ := proto.Load().(string); got != want {
				t.Errorf("protocol: got %q, want %q", got, want)
			}
		})
	}
}
