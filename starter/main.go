// Command starter publishes HARi CRM events and shows their deliveries.
//
//	starter publish --file event.json [--wait] [--json]
//	starter show --workspace W --event ID [--json]
//	starter token --workspace W [--ttl 12h] | --service
//	starter webhooks create|list|get|update|activate|deactivate|delete|recover|retire ...
//	starter test-fire|test-result|test-dismiss --workspace W --webhook ID
//	starter keys new --id ID | keys reseal --workspace W|--all
//	starter redeliver --workspace W --webhook ID --delivery DELIVERY_ID
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/netguard"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/tclient"
	"github.com/hari-crm/webhooks/workflows"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitInvalid = 2 // bad input: nothing was started
	exitFailed  = 3 // --wait: at least one delivery failed
)

const usage = `usage:
  starter publish --file F|- [--wait] [--timeout 2m] [--json]
  starter show --workspace W --event ID [--json]
  starter token --workspace W [--ttl 12h]      (or --service: every workspace)
  starter webhooks create --workspace W --file F|- [--json]
  starter webhooks ensure --workspace W --file F|- [--json]   (create unless one of the same name exists)
  starter webhooks list --workspace W [--json]
  starter webhooks get|activate|deactivate|delete --workspace W --id ID [--json]
  starter webhooks update --workspace W --id ID --file F|- [--json]
  starter webhooks deliveries --workspace W --id ID [--limit 20] [--json]
  starter webhooks recover --workspace W [--from-input] [--json]
  starter webhooks recover --all [--json]
  starter webhooks retire --workspace W [--json]
  starter redeliver --workspace W --webhook ID --delivery DELIVERY_ID [--key K] [--wait] [--json]
  starter recover --workspace W --webhook ID --since RFC3339 [--wait] [--json]
  starter recover --workspace W --webhook ID --job JOB [--cancel] [--wait] [--json]
  starter test-fire --workspace W --webhook ID [--json]
  starter test-result --workspace W --webhook ID [--json]
  starter test-dismiss --workspace W --webhook ID
  starter keys new --id ID                      print a new codec key entry (id:base64key)
  starter keys reseal --workspace W|--all [--json]
                                                re-seal webhook secrets with the active key

An event without "targets" goes to the workspace's matching webhooks.

Connection: --address (env TEMPORAL_ADDRESS, default 127.0.0.1:7233),
--namespace (env TEMPORAL_NAMESPACE, default "default"), --task-queue
(env HARI_TASK_QUEUE, default hari-webhooks); payloads are
sealed with the key list in HARI_CODEC_KEYS or HARI_CODEC_KEYS_FILE.
"token" mints an HTTP API bearer token (for development) with the
signing keys in HARI_API_KEYS or HARI_API_KEYS_FILE.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitInvalid
		}
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd, rest := args[0], args[1:]
	var err error
	code := exitOK
	switch cmd {
	case "publish":
		code, err = publish(ctx, rest, stdin, stdout, stderr)
	case "show":
		code, err = show(ctx, rest, stdout, stderr)
	case "token":
		code, err = mintToken(rest, stdout, stderr)
	case "webhooks":
		code, err = webhooks(ctx, rest, stdin, stdout, stderr)
	case "test-fire", "test-result", "test-dismiss":
		code, err = testCmd(ctx, cmd, rest, stdout, stderr)
	case "keys":
		code, err = keys(ctx, rest, stdout, stderr)
	case "redeliver":
		code, err = redeliver(ctx, rest, stdout, stderr)
	case "recover":
		code, err = recoverCmd(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "starter: unknown command %q\n%s", cmd, usage)
		return exitInvalid
	}
	if err != nil {
		fmt.Fprintln(stderr, "starter:", err)
		if code == exitOK {
			code = exitError
		}
	}
	return code
}

type conn struct {
	address, namespace, taskQueue *string
}

func connFlags(fs *flag.FlagSet) conn {
	return conn{
		address:   fs.String("address", envOr("TEMPORAL_ADDRESS", tclient.DefaultAddress), "Temporal frontend host:port"),
		namespace: fs.String("namespace", envOr("TEMPORAL_NAMESPACE", tclient.DefaultNamespace), "Temporal namespace"),
		taskQueue: fs.String("task-queue", envOr("HARI_TASK_QUEUE", workflows.TaskQueue), "task queue of the delivery workers"),
	}
}

func (c conn) publisher() (*publisher.Publisher, func(), error) {
	p, _, closeFn, err := c.clients()
	return p, closeFn, err
}

func (c conn) clients() (*publisher.Publisher, *registry.Client, func(), error) {
	keys, err := codec.LoadKeys()
	if err != nil {
		return nil, nil, nil, err
	}
	cfg := tclient.Config{Address: *c.address, Namespace: *c.namespace, Keys: keys}
	tc, err := tclient.Dial(cfg, zerolog.New(io.Discard))
	if err != nil {
		return nil, nil, nil, err
	}
	allow, err := netguard.ParseAllow(os.Getenv("HARI_ALLOW_CIDRS"))
	if err != nil {
		tc.Close()
		return nil, nil, nil, err
	}
	allowDirect, err := allowDirectTargets()
	if err != nil {
		tc.Close()
		return nil, nil, nil, err
	}
	guard := netguard.New(allow)
	reg := registry.New(tc, registry.Options{Sealer: keys, TaskQueue: *c.taskQueue, Hosts: guard, DataConverter: codec.DataConverter(keys)})
	pub := publisher.New(tc, publisher.Options{TaskQueue: *c.taskQueue, DataConverter: codec.DataConverter(keys), Router: reg, Hosts: guard, RecoveryConcurrency: recoveryConcurrency(), AllowDirectSecrets: allowDirect})
	return pub, reg, tc.Close, nil
}

func publish(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "event JSON file, or - for standard input")
	wait := fs.Bool("wait", false, "wait until every delivery has its outcome")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --wait: how long to wait")
	asJSON := fs.Bool("json", false, "print one JSON object")
	c := connFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitInvalid, nil
	}
	if *file == "" {
		return exitInvalid, errors.New("publish: --file is required (a path, or - for standard input)")
	}
	data, err := readInput(*file, stdin)
	if err != nil {
		return exitInvalid, err
	}
	in, err := publisher.ParseMessage(data)
	if err != nil {
		return exitInvalid, err
	}
	p, closeFn, err := c.publisher()
	if err != nil {
		return exitError, err
	}
	defer closeFn()
	r, err := p.Publish(ctx, in)
	if err != nil {
		if errors.Is(err, event.ErrInvalid) || errors.Is(err, endpoint.ErrInvalid) {
			return exitInvalid, err
		}
		return exitError, err
	}
	if r.NoMatch {
		if *asJSON {
			writeJSON(stdout, map[string]any{"event_id": r.EventID, "workflow_id": "", "duplicate": false, "no_match": true, "deliveries": []any{}})
		} else {
			fmt.Fprintf(stdout, "event %s: no match (no active webhook of workspace %s matches it; nothing was started)\n", r.EventID, in.Event.Workspace)
		}
		return exitOK, nil
	}
	out := publisher.Outcome{EventID: r.EventID, WorkflowID: r.WorkflowID, Duplicate: r.Duplicate}
	if *wait {
		wctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		o, err := p.Wait(wctx, in.Event.Workspace, r.EventID)
		if err != nil {
			return exitError, err
		}
		o.Duplicate = r.Duplicate
		out = o
	} else if o, err := p.Show(ctx, in.Event.Workspace, r.EventID); err == nil {
		o.Duplicate = r.Duplicate
		out = o
	}
	print(stdout, out, *asJSON)
	if *wait && (anyFailed(out) || out.Error != "") {
		return exitFailed, nil
	}
	return exitOK, nil
}

func show(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "the event's workspace")
	id := fs.String("event", "", "event ID")
	asJSON := fs.Bool("json", false, "print one JSON object")
	c := connFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitInvalid, nil
	}
	if *ws == "" || *id == "" {
		return exitInvalid, errors.New("show: --workspace and --event are required (event IDs are scoped by workspace)")
	}
	p, closeFn, err := c.publisher()
	if err != nil {
		return exitError, err
	}
	defer closeFn()
	o, err := p.Show(ctx, *ws, *id)
	if errors.Is(err, event.ErrInvalid) {
		return exitInvalid, err
	}
	if err != nil {
		return exitError, err
	}
	print(stdout, o, *asJSON)
	return exitOK, nil
}

func readInput(file string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read event: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, event.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	return data, nil
}

func anyFailed(o publisher.Outcome) bool {
	for _, d := range o.Deliveries {
		if d.Status == workflows.StatusFailed {
			return true
		}
	}
	return false
}

func print(w io.Writer, o publisher.Outcome, asJSON bool) {
	if asJSON {
		writeJSON(w, o)
		return
	}
	state := "published"
	if o.Duplicate {
		state = "duplicate: this event ID was published before; nothing new was started"
	}
	if o.NoMatch {
		state = "no match: no active webhook of the workspace matched the event when its workflow routed it; nothing was sent"
	}
	if o.Error != "" {
		state = o.Error
	}
	if o.Busy {
		state += " (its workflow is in the middle of a first attempt and did not answer yet: `starter show` again for the attempts)"
	}
	fmt.Fprintf(w, "event %s (workflow %s): %s\n", o.EventID, o.WorkflowID, state)
	for _, d := range o.Deliveries {
		fmt.Fprintf(w, "  %s  %s  %s\n", d.WebhookID, d.URL, strings.ToUpper(d.Status))
		for _, a := range d.Attempts {
			outcome := a.Error
			if a.Succeeded() {
				outcome = fmt.Sprintf("HTTP %d", a.StatusCode)
			}
			fmt.Fprintf(w, "    attempt %d  %s  %5d ms  %s\n", a.Number, a.StartedAt.Format(time.RFC3339Nano), a.DurationMS, outcome)
		}
		if d.Error != "" && d.Status == workflows.StatusFailed {
			fmt.Fprintf(w, "    failed: %s\n", d.Error)
		}
	}
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// recoveryConcurrency is a fifth of HARI_WORKSPACE_LIMIT, as the worker
// uses; 0 (the default of 10) when it is not set.
// allowDirectTargets reads HARI_ALLOW_DIRECT_TARGETS as the worker does:
// unset, direct targets with a plaintext secret are refused at publish.
func allowDirectTargets() (bool, error) {
	v := os.Getenv("HARI_ALLOW_DIRECT_TARGETS")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("HARI_ALLOW_DIRECT_TARGETS=%q is not 1 or 0 (true or false)", v)
	}
	return b, nil
}

func recoveryConcurrency() int {
	n, err := strconv.Atoi(os.Getenv("HARI_WORKSPACE_LIMIT"))
	if err != nil || n <= 0 {
		return 0
	}
	return max(1, n/5)
}
