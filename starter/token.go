package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hari-crm/webhooks/api/token"
)

// mintToken prints an HTTP API bearer token signed with the worker's API
// keys: a workspace token (the Settings page of one workspace) or a
// service token (every workspace). For development: in production the
// tokens come from HARi's own identity service, signed with the same keys.
func mintToken(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "the workspace the token may act on")
	service := fs.Bool("service", false, "a service token, which may act on every workspace")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return exitInvalid, nil
	}
	if (*ws == "") == !*service {
		return exitInvalid, errors.New("token: give exactly one of --workspace W or --service")
	}
	if *ttl <= 0 {
		return exitInvalid, fmt.Errorf("token: --ttl must be positive, got %s", *ttl)
	}
	keys, err := token.LoadKeys()
	if err != nil {
		return exitError, err
	}
	if keys == nil {
		return exitError, errors.New("token: no signing keys: set HARI_API_KEYS or HARI_API_KEYS_FILE (the worker's; make run keeps them in .data/api.keys)")
	}
	var tok string
	if *service {
		tok, err = keys.MintService(*ttl)
	} else {
		tok, err = keys.MintWorkspace(*ws, *ttl)
	}
	if err != nil {
		return exitInvalid, err
	}
	fmt.Fprintln(stdout, tok)
	return exitOK, nil
}
