// Package devtest starts real components for integration tests: a Temporal
// dev server (the pinned CLI built by `make temporal`), a delivery worker,
// and HTTPS receivers that record what they get.
package devtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/tclient"
)

// Root returns the module's root folder.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// TemporalPath returns the Temporal CLI: $TEMPORAL_CLI, or bin/temporal
// under the module root (built by `make temporal`).
func TemporalPath() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("temporal CLI not found at %s: run `make temporal` (or set TEMPORAL_CLI)", p)
	}
	return p, nil
}

// Server is a running dev server with the codec's keys.
type Server struct {
	Dev      *testsuite.DevServer
	HostPort string
	Keys     *codec.Keyring
	KeySpec  string
}

// StartServer starts an in-memory dev server on a free loopback port and
// stops it when the test ends. It fails the test when the CLI is missing.
func StartServer(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	s, err := NewServer(context.Background(), "", extraArgs...)
	if err != nil {
		t.Fatalf("start temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = s.Dev.Stop() })
	return s
}

// NewServer starts a dev server; dbFile "" keeps it in memory.
func NewServer(ctx context.Context, dbFile string, extraArgs ...string) (*Server, error) {
	spec, err := codec.NewKeySpec("test1")
	if err != nil {
		return nil, err
	}
	// A dev server that does not come up (one of its own ports taken by a
	// parallel test in the meantime, or a start slowed by a loaded machine)
	// is tried again on a fresh port, so one unlucky start fails no test.
	var errs []error
	for try := 0; try < 3 && ctx.Err() == nil; try++ {
		hostPort, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		tctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		s, err := StartServerAt(tctx, hostPort, dbFile, spec, extraArgs...)
		cancel()
		if err == nil {
			return s, nil
		}
		errs = append(errs, fmt.Errorf("on %s: %w", hostPort, err))
	}
	return nil, fmt.Errorf("temporal dev server did not start: %w", errors.Join(errs...))
}

// StartServerAt starts a dev server on hostPort with the codec key list
// keySpec: with the same dbFile, a stopped server starts again with its
// state (restart tests).
func StartServerAt(ctx context.Context, hostPort, dbFile, keySpec string, extraArgs ...string) (*Server, error) {
	path, err := TemporalPath()
	if err != nil {
		return nil, err
	}
	spec := keySpec
	keys, err := codec.ParseKeys(spec)
	if err != nil {
		return nil, err
	}
	args, err := devServerArgs(extraArgs)
	if err != nil {
		return nil, err
	}
	exe, cleanup, err := gcLauncher(path)
	if err != nil {
		return nil, err
	}
	// StartDevServer returns once the server answers (or has failed), so
	// the launcher has exec'd the CLI by then: nothing is left behind.
	defer cleanup()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  exe, // the CLI, with the server's GOGC and GOMEMLIMIT
		ClientOptions: &client.Options{HostPort: hostPort, Namespace: "default", Logger: tclient.Logger(zerolog.Nop())},
		DBFilename:    dbFile,
		LogLevel:      "error",
		ExtraArgs:     args, // deploy/dynamicconfig.yaml's values, then the caller's
		Stdout:        io.Discard,
		Stderr:        io.Discard,
	})
	if err != nil {
		return nil, err
	}
	if err := service.EnsureSearchAttributes(ctx, dev.Client(), "default"); err != nil {
		_ = dev.Stop()
		return nil, err
	}
	return &Server{Dev: dev, HostPort: hostPort, Keys: keys, KeySpec: spec}, nil
}

// Client dials the server with the codec, closing it when the test ends.
func (s *Server) Client(t testing.TB) client.Client {
	t.Helper()
	c, err := tclient.Dial(tclient.Config{Address: s.HostPort, Namespace: "default", Keys: s.Keys}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// FreeAddr returns a free loopback host:port.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Hit is one request a Receiver got.
type Hit struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// Receiver is an HTTPS server that records every request and answers
// with Respond (200 by default).
type Receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []Hit
	// Respond picks the answer to request n (1-based).
	Respond func(n int, w http.ResponseWriter, r *http.Request)
}

// NewReceiver starts a recording HTTPS receiver, closed when the test ends.
func NewReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *Receiver {
	t.Helper()
	rc := &Receiver{Respond: respond}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, Hit{At: time.Now(), Header: r.Header.Clone(), Body: body})
		n := len(rc.hits)
		rc.mu.Unlock()
		if rc.Respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		rc.Respond(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// Hits returns a copy of the requests so far.
func (rc *Receiver) Hits() []Hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Hit(nil), rc.hits...)
}

// WaitHits waits until the receiver has at least n requests.
func (rc *Receiver) WaitHits(t testing.TB, n int, timeout time.Duration) []Hit {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h := rc.Hits(); len(h) >= n {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	h := rc.Hits()
	t.Fatalf("receiver got %d requests within %s, want %d", len(h), timeout, n)
	return nil
}

// TLSConfig trusts the given receivers' certificates.
func TLSConfig(rcs ...*Receiver) *tls.Config {
	pool := x509.NewCertPool()
	for _, rc := range rcs {
		pool.AddCert(rc.Certificate())
	}
	return &tls.Config{RootCAs: pool}
}

// GoBuild builds a package of this module into dir and returns the binary.
func GoBuild(t testing.TB, pkg, dir string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
