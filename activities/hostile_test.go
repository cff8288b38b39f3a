package activities

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/delivery"
)

// certs makes a CA and a leaf certificate for names, valid from..until.
func certs(t *testing.T, names []string, ips []net.IP, notBefore, notAfter time.Time) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: notBefore, NotAfter: notAfter,
		DNSNames: names, IPAddresses: ips, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func tlsServer(t *testing.T, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestTLSFailuresHaveAClearClass(t *testing.T) {
	loop := []net.IP{net.ParseIP("127.0.0.1")}
	ok := func(w http.ResponseWriter, _ *http.Request) {}
	tests := []struct {
		name    string
		names   []string
		ips     []net.IP
		from    time.Time
		until   time.Time
		wantMsg string
	}{
		{"expired", nil, loop, time.Now().Add(-48 * time.Hour), time.Now().Add(-24 * time.Hour), "expired"},
		{"wrong host", []string{"other.example"}, nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "127.0.0.1"},
	}
	for _, tt := range tests {
		pool, cert := certs(t, tt.names, tt.ips, tt.from, tt.until)
		srv := tlsServer(t, cert, http.HandlerFunc(ok))
		client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool}})
		a := Send(context.Background(), client, Request{URL: srv.URL, Body: []byte(`{}`), Attempt: 1})
		if a.Class != delivery.ClassTLS || !strings.Contains(a.Error, tt.wantMsg) || !strings.HasPrefix(a.Error, "tls: ") {
			t.Errorf("%s: got class %q error %q, want tls naming %q", tt.name, a.Class, a.Error, tt.wantMsg)
		}
	}
}

// A receiver that trickles its response is cut at the attempt timeout (15 s
// in production; 1 s here, the same code path).
func TestTrickleIsCutAtTheTimeout(t *testing.T) {
	trickle := func(status bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if status {
				w.WriteHeader(200)
			} else {
				// Hijack and write the status line one byte at a time.
				conn, buf, _ := w.(http.Hijacker).Hijack()
				defer conn.Close()
				for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") {
					_ = buf.WriteByte(b)
					_ = buf.Flush()
					time.Sleep(300 * time.Millisecond)
				}
				return
			}
			for i := 0; i < 30; i++ {
				_, _ = w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
		}
	}
	for _, tt := range []struct {
		name      string
		status    bool
		wantClass delivery.Class
	}{
		{"trickling headers", false, delivery.ClassTimeout},
		{"status then a trickling body", true, delivery.ClassNone},
	} {
		srv := httptest.NewUnstartedServer(trickle(tt.status))
		srv.EnableHTTP2 = false
		srv.StartTLS()
		defer srv.Close()
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}})
		start := time.Now()
		a := Send(context.Background(), client, Request{URL: srv.URL, Body: []byte(`{}`), Attempt: 1, Timeout: time.Second})
		took := time.Since(start)
		if a.Class != tt.wantClass || took > 1500*time.Millisecond || took < 900*time.Millisecond {
			t.Errorf("%s: class %q (%s) after %s, want %q cut at 1 s", tt.name, a.Class, a.Error, took, tt.wantClass)
		}
		if tt.status && !strings.Contains(a.ResponseBody, "[response body cut: timeout]") {
			t.Errorf("%s: the body cut is not noted: %q", tt.name, a.ResponseBody)
		}
	}
}

// A 100 MB response is read only up to the cap, with flat memory.
func TestHugeBodyReadUpToTheCap(t *testing.T) {
	var written atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := make([]byte, 64<<10)
		for i := 0; i < 1600; i++ { // 100 MiB
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool}})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := Send(context.Background(), client, Request{URL: srv.URL, Body: []byte(`{}`), Attempt: 1})
	runtime.ReadMemStats(&after)
	if !a.Succeeded() || len(a.ResponseBody) != delivery.LoggedBodyLen {
		t.Fatalf("got %+v", a.Class)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("reading the response allocated %d MiB, want flat memory (under 8 MiB)", alloc>>20)
	}
	time.Sleep(100 * time.Millisecond)
	if w := written.Load(); w > 20<<20 { // loopback socket buffers hold several MiB
		t.Errorf("the server wrote %d MiB before the client hung up, want the read stopped long before the 100 MiB", w>>20)
	}
}

func TestResetMidResponseAndRedirects(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/reset":
			conn, buf, _ := w.(http.Hijacker).Hijack()
			_, _ = buf.WriteString("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\npartial")
			_ = buf.Flush()
			if tc, ok := conn.(*tls.Conn); ok {
				_ = tc.NetConn().(*net.TCPConn).SetLinger(0)
			}
			conn.Close()
		case "/moved":
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusMovedPermanently)
		case "/gone":
			w.WriteHeader(http.StatusGone)
		case "/slow-down":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	srv.EnableHTTP2 = false
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	client := NewHTTPClient(ClientOptions{TLS: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}})
	for _, tt := range []struct {
		path      string
		code      int
		retryable bool
		note      string
	}{
		{"/reset", 503, true, "[response body cut: connection_reset]"},
		{"/moved", 301, true, "not followed"},
		{"/gone", 410, false, ""},
		{"/slow-down", 429, true, ""},
	} {
		a := Send(context.Background(), client, Request{URL: srv.URL + tt.path, Body: []byte(`{}`), Attempt: 1})
		if a.StatusCode != tt.code || a.Retryable() != tt.retryable || !strings.Contains(a.ResponseBody+a.Error, tt.note) {
			t.Errorf("%s: got %d retryable=%v %q %q", tt.path, a.StatusCode, a.Retryable(), a.Error, a.ResponseBody)
		}
	}
}
