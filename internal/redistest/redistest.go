// Package redistest starts a real redis-server (Debian's) on a free
// loopback port for tests.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	bin  string
	cmd  *exec.Cmd
}

// Start runs redis-server without persistence on a free port and stops it
// when the test ends. It fails the test when redis-server is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartProcess runs redis-server; call Stop when done.
func StartProcess() (*Server, error) {
	path := os.Getenv("REDIS_SERVER")
	if path == "" {
		path = "redis-server"
	}
	bin, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (install Debian's redis-server, or set REDIS_SERVER): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Restart starts a stopped server again on the same address, empty (as a
// real Redis without persistence comes back).
func (s *Server) Restart() error { return s.start() }

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server on %s did not answer", s.Addr)
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
}

// PID is the redis-server's process ID (the benchmark reads its CPU time).
func (s *Server) PID() int { return s.cmd.Process.Pid }
