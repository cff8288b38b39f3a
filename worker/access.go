package main

import (
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/api/token"
	"github.com/hari-crm/webhooks/codec"
)

// access is who may call the worker's HTTP API and codec endpoint.
type access struct {
	api   api.Server // without Registry and Publisher
	codec codec.Access
}

// loadAccess reads the API signing keys (HARI_API_KEYS or
// HARI_API_KEYS_FILE) and takes the codec token. Outside development both
// are required: the worker refuses to start rather than serve the API or
// decrypt payloads for anyone.
func loadAccess(dev bool, codecToken string, origins []string) (access, error) {
	if os.Getenv("HARI_API_TOKEN") != "" {
		return access{}, errors.New("HARI_API_TOKEN is no longer used: the API takes signed workspace and service tokens; set HARI_API_KEYS or HARI_API_KEYS_FILE and mint tokens (see README, Trust model)")
	}
	keys, err := token.LoadKeys()
	if err != nil {
		return access{}, err
	}
	if keys == nil && !dev {
		return access{}, errors.New("no API signing keys: set HARI_API_KEYS (kid:base64-key of at least 32 bytes) or HARI_API_KEYS_FILE, or start with -dev for development (make run does)")
	}
	if codecToken == "" && !dev {
		return access{}, errors.New("no codec token: set HARI_CODEC_TOKEN (the codec endpoint decrypts every payload, so it is never open outside development), or start with -dev for development")
	}
	a := access{codec: codec.Access{Origins: origins, Token: codecToken, Anonymous: dev}}
	if keys != nil {
		a.api.Tokens = keys
	} else {
		a.api.Open = true // dev only, checked above
	}
	return a, nil
}

// timeouts of the worker's HTTP server.
type timeouts struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// defaultTimeouts: a request (headers and a body of up to 256 KiB) must
// arrive within 20 s, so a client trickling its body cannot hold a
// connection; an answer may take 40 s, longer than the API's own 30 s
// deadline, which covers a synchronous Test fire (15 s attempt, TLS and
// queueing included), so the API's timeout answer always gets out.
var defaultTimeouts = timeouts{
	readHeader:     5 * time.Second,
	read:           20 * time.Second,
	write:          40 * time.Second,
	idle:           2 * time.Minute,
	maxHeaderBytes: 64 << 10,
}

func newHTTPServer(addr string, h http.Handler, t timeouts) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    t.maxHeaderBytes,
	}
}
