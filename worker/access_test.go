package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/api"
)

func TestOutsideDevelopmentKeysAndCodecTokenAreRequired(t *testing.T) {
	key := "k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	for _, tt := range []struct {
		name                    string
		dev                     bool
		apiKeys, codec, old     string
		wantErr                 string
		wantOpen, wantAnonymous bool
	}{
		{name: "production, nothing set", wantErr: "no API signing keys"},
		{name: "production, no codec token", apiKeys: key, wantErr: "no codec token"},
		{name: "production, both set", apiKeys: key, codec: "c0dec"},
		{name: "the old static token", apiKeys: key, codec: "c0dec", old: "t", wantErr: "HARI_API_TOKEN is no longer used"},
		{name: "development, nothing set", dev: true, wantOpen: true, wantAnonymous: true},
		{name: "development with keys", dev: true, apiKeys: key, wantAnonymous: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HARI_API_KEYS", tt.apiKeys)
			t.Setenv("HARI_API_KEYS_FILE", "")
			t.Setenv("HARI_API_TOKEN", tt.old)
			a, err := loadAccess(tt.dev, tt.codec, []string{"http://localhost:8233"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.api.Open != tt.wantOpen || a.codec.Anonymous != tt.wantAnonymous || (a.api.Tokens == nil) != tt.wantOpen {
				t.Errorf("got API open %v (verifier %v), codec anonymous %v; want %v, %v", a.api.Open, a.api.Tokens != nil, a.codec.Anonymous, tt.wantOpen, tt.wantAnonymous)
			}
		})
	}
}

func TestServerTimeouts(t *testing.T) {
	d := defaultTimeouts
	if d.write <= api.Deadline {
		t.Errorf("write timeout %s, want more than the API's deadline %s (which covers a 15 s Test fire)", d.write, api.Deadline)
	}
	if d.read <= 0 || d.readHeader <= 0 || d.idle <= 0 || d.maxHeaderBytes <= 0 || d.maxHeaderBytes > 1<<20 {
		t.Errorf("timeouts %+v: every one must be set", d)
	}
	s := newHTTPServer("x", nil, d)
	if s.ReadTimeout != d.read || s.WriteTimeout != d.write || s.IdleTimeout != d.idle || s.ReadHeaderTimeout != d.readHeader || s.MaxHeaderBytes != d.maxHeaderBytes {
		t.Errorf("server %+v does not carry the timeouts %+v", s, d)
	}
}

// A client that sends its headers and then trickles the body (slow loris)
// is cut at the read timeout; the handler sees the read fail.
func TestSlowLorisBodyIsCut(t *testing.T) {
	d := defaultTimeouts
	d.read = time.Second // the default, scaled down to keep the test short
	got := make(chan error, 1)
	srv := newHTTPServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}), d)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/workspaces/w/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	go func() {
		for i := 0; i < 50; i++ {
			if _, err := conn.Write([]byte("{")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("the trickled body was read in full, want it cut")
		}
		if el := time.Since(start); el < 900*time.Millisecond || el > 3*time.Second {
			t.Errorf("cut after %s, want about the 1 s read timeout", el)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("a body trickled for 5 s was never cut")
	}
}
