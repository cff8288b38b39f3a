package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// webhookFile is a webhook definition file: a webhook.Spec, optionally
// with its workspace.
type webhookFile struct {
	Workspace string `json:"workspace,omitempty"`
	webhook.Spec
}

func webhooks(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return exitInvalid, errors.New("webhooks: name a subcommand: create, ensure, list, get, update, activate, deactivate, delete, deliveries, recover, retire")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("webhooks "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "workspace")
	id := fs.String("id", "", "webhook ID")
	file := fs.String("file", "", "webhook definition JSON file, or - for standard input")
	limit := fs.Int("limit", 20, "deliveries: how many")
	asJSON := fs.Bool("json", false, "print JSON")
	all := fs.Bool("all", false, "recover: every ended registry of this task queue")
	fromInput := fs.Bool("from-input", false, "recover: restore the ended run's start input and send its writes again (for a run this worker cannot replay)")
	c := connFlags(fs)
	if err := fs.Parse(rest); err != nil {
		return exitInvalid, nil
	}
	var spec webhook.Spec
	if sub == "create" || sub == "ensure" || sub == "update" {
		if *file == "" {
			return exitInvalid, fmt.Errorf("webhooks %s: --file is required", sub)
		}
		data, err := readInput(*file, stdin)
		if err != nil {
			return exitInvalid, err
		}
		var f webhookFile
		if err := event.StrictUnmarshal(data, &f); err != nil {
			return exitInvalid, err
		}
		spec = f.Spec
		if *ws == "" {
			*ws = f.Workspace
		}
	}
	if sub == "recover" && *all {
		if *ws != "" || *fromInput {
			return exitInvalid, errors.New("webhooks recover: --all takes neither --workspace nor --from-input")
		}
		return recoverAll(ctx, c, stdout, *asJSON)
	}
	if *ws == "" {
		return exitInvalid, fmt.Errorf("webhooks %s: --workspace is required", sub)
	}
	needsID := sub != "create" && sub != "ensure" && sub != "list" && sub != "recover" && sub != "retire"
	if needsID && *id == "" {
		return exitInvalid, fmt.Errorf("webhooks %s: --id is required", sub)
	}
	pub, reg, closeFn, err := c.clients()
	if err != nil {
		return exitError, err
	}
	defer closeFn()

	var out any
	switch sub {
	case "create":
		out, err = reg.Create(ctx, *ws, spec)
	case "ensure":
		out, err = ensure(ctx, reg, *ws, spec)
	case "update":
		out, err = reg.Update(ctx, *ws, *id, spec)
	case "list":
		out, err = reg.List(ctx, *ws)
	case "get":
		var v webhook.View
		if v, err = reg.Get(ctx, *ws, *id); err == nil {
			var h publisher.Health
			h, err = pub.Health(ctx, *ws, *id)
			wh := withHealth{View: v, Health: &h}
			if err == nil && v.DisabledAt != nil {
				var n int
				n, err = pub.NotSent(ctx, *ws, *id, *v.DisabledAt)
				wh.NotSentWhileDisabled = &n
			}
			out = wh
		}
	case "activate", "deactivate":
		out, err = reg.SetActive(ctx, *ws, *id, sub == "activate")
	case "delete":
		err = reg.Delete(ctx, *ws, *id)
		out = map[string]any{"deleted": *id}
	case "recover":
		var rec registry.Recovery
		rec, err = reg.Recover(ctx, *ws, registry.RecoverOptions{FromInput: *fromInput})
		if err == nil && !*asJSON {
			printRecovery(stdout, rec)
			return exitOK, nil
		}
		out = rec
	case "retire":
		var runID string
		runID, err = reg.Retire(ctx, *ws)
		if err == nil && !*asJSON {
			fmt.Fprintf(stdout, "retired the registry of workspace %s (run %s): reads, writes and the worker's sweep leave it ended; `starter webhooks recover --workspace %s` brings it back\n", *ws, runID, *ws)
			return exitOK, nil
		}
		out = map[string]string{"workspace": *ws, "retired_run_id": runID}
	case "deliveries":
		if _, err = reg.Get(ctx, *ws, *id); err == nil {
			out, err = pub.Deliveries(ctx, *ws, *id, *limit)
		}
	default:
		return exitInvalid, fmt.Errorf("webhooks: unknown subcommand %q", sub)
	}
	if err != nil {
		return codeFor(err), err
	}
	if *asJSON {
		writeJSON(stdout, out)
		return exitOK, nil
	}
	printWebhooks(stdout, out)
	return exitOK, nil
}

func testCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "workspace")
	id := fs.String("webhook", "", "webhook ID")
	asJSON := fs.Bool("json", false, "print JSON")
	c := connFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitInvalid, nil
	}
	if *ws == "" || *id == "" {
		return exitInvalid, fmt.Errorf("%s: --workspace and --webhook are required", cmd)
	}
	_, reg, closeFn, err := c.clients()
	if err != nil {
		return exitError, err
	}
	defer closeFn()
	var res *workflows.TestResult
	switch cmd {
	case "test-fire":
		var r workflows.TestResult
		r, err = reg.TestFire(ctx, *ws, *id)
		res = &r
	case "test-result":
		res, err = reg.TestResult(ctx, *ws, *id)
	case "test-dismiss":
		if err = reg.DismissTest(ctx, *ws, *id); err == nil && !*asJSON {
			fmt.Fprintln(stdout, "test result dismissed")
			return exitOK, nil
		}
	}
	if err != nil {
		return codeFor(err), err
	}
	if *asJSON {
		if res == nil {
			fmt.Fprintln(stdout, "null")
			return exitOK, nil
		}
		writeJSON(stdout, res)
		return exitOK, nil
	}
	if res == nil {
		fmt.Fprintln(stdout, "no test result")
		return exitOK, nil
	}
	printTest(stdout, *res)
	return exitOK, nil
}

func codeFor(err error) int {
	if errors.Is(err, webhook.ErrInvalid) || errors.Is(err, event.ErrInvalid) || errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrConflict) ||
		errors.Is(err, publisher.ErrNotFound) || errors.Is(err, publisher.ErrPending) {
		return exitInvalid
	}
	return exitError
}

func recoverAll(ctx context.Context, c conn, stdout io.Writer, asJSON bool) (int, error) {
	_, reg, closeFn, err := c.clients()
	if err != nil {
		return exitError, err
	}
	defer closeFn()
	recs, err := reg.RecoverAll(ctx)
	if asJSON {
		if recs == nil {
			recs = []registry.Recovery{}
		}
		writeJSON(stdout, recs)
	} else {
		if len(recs) == 0 {
			fmt.Fprintln(stdout, "no ended registry recovered")
		}
		for _, r := range recs {
			printRecovery(stdout, r)
		}
	}
	if err != nil {
		return exitError, err
	}
	return exitOK, nil
}

func printRecovery(w io.Writer, r registry.Recovery) {
	if !r.Recovered {
		if r.EndedRunID != "" {
			fmt.Fprintf(w, "the registry of workspace %s was recovered by another caller meanwhile (run %s)\n", r.Workspace, r.RunID)
			return
		}
		fmt.Fprintf(w, "the registry of workspace %s is running (run %s); nothing to recover\n", r.Workspace, r.RunID)
		return
	}
	from := "its last state"
	if r.FromInput {
		from = "its start input"
	}
	fmt.Fprintf(w, "recovered the registry of workspace %s from %s: run %s (%s), %d webhooks, %d test results; new run %s\n",
		r.Workspace, from, r.EndedRunID, r.EndedStatus, r.Webhooks, r.TestResults, r.RunID)
	if r.FromInput {
		fmt.Fprintf(w, "%d writes of the ended run sent again:\n", len(r.Reapplied))
		for _, x := range r.Reapplied {
			fmt.Fprintf(w, "  %s\n", x)
		}
	}
	if len(r.LostWrites) > 0 {
		fmt.Fprintf(w, "%d writes of the ended run NOT in the recovered registry:\n", len(r.LostWrites))
		for _, x := range r.LostWrites {
			fmt.Fprintf(w, "  %s\n", x)
		}
	}
}

func printTest(w io.Writer, r workflows.TestResult) {
	fmt.Fprintf(w, "test fire at %s: ", r.FiredAt.Format(time.RFC3339))
	if r.Error != "" && r.StatusCode == 0 {
		fmt.Fprintf(w, "ERROR %s (%d ms)\n", r.Error, r.DurationMS)
		return
	}
	fmt.Fprintf(w, "HTTP %d in %d ms\n", r.StatusCode, r.DurationMS)
	body := r.Body
	if r.BodyTruncated {
		body = string([]rune(body)[:workflows.TestBodyPreview]) + "… (truncated; --json for all)"
	}
	if body != "" {
		fmt.Fprintf(w, "%s\n", body)
	}
}

// withHealth is webhooks get's answer: the webhook and its endpoint's
// health, as GET .../webhooks/{id} shows them.
type withHealth struct {
	webhook.View
	Health *publisher.Health `json:"health"`
	// NotSentWhileDisabled counts the events that matched the webhook
	// since it was disabled (only while disabled).
	NotSentWhileDisabled *int `json:"not_sent_while_disabled,omitempty"`
}

func printWebhooks(w io.Writer, out any) {
	switch v := out.(type) {
	case webhook.View:
		printWebhook(w, v)
	case withHealth:
		printWebhook(w, v.View)
		printHealth(w, v.Health)
		if n := v.NotSentWhileDisabled; n != nil {
			fmt.Fprintf(w, "  %d not sent while disabled (since %s)\n", *n, v.DisabledAt.UTC().Format(time.RFC3339))
		}
	case []webhook.View:
		if len(v) == 0 {
			fmt.Fprintln(w, "no webhooks")
		}
		for _, x := range v {
			printWebhook(w, x)
		}
	default:
		writeJSON(w, out)
	}
}

func printWebhook(w io.Writer, v webhook.View) {
	state := v.State
	if state == "" {
		state = webhook.StateInactive
		if v.Active {
			state = webhook.StateActive
		}
	}
	if v.DisabledReason != "" {
		state += " (" + v.DisabledReason + ")"
	}
	events := make([]string, len(v.Events))
	for i, e := range v.Events {
		events[i] = string(e)
	}
	secret := "no secret"
	if v.HasSecret {
		secret = "secret " + v.Secret
	}
	fields := "all fields"
	if len(v.Fields) > 0 {
		fields = strings.Join(v.Fields, ", ")
	}
	fmt.Fprintf(w, "%s  %q  %s\n  when %s %s, if %s\n  POST %s (%s; %s)\n", v.ID, v.Name, state, v.Entity, strings.Join(events, "|"), v.ConditionsText, v.URL, fields, secret)
}

func printHealth(w io.Writer, h *publisher.Health) {
	if h == nil {
		return
	}
	rate := "no deliveries in 24 h"
	if h.SuccessRate24h != nil {
		rate = fmt.Sprintf("%.1f%% delivered in 24 h (%d delivered, %d failed)", *h.SuccessRate24h*100, h.Delivered24h, h.Failed24h)
	}
	fmt.Fprintf(w, "  health: %s\n", rate)
	if h.ConsecutiveFailures > 0 {
		more := ""
		if h.More {
			more = "+"
		}
		fmt.Fprintf(w, "  %d%s failed in a row since %s; last error: %s\n", h.ConsecutiveFailures, more, h.FailingSince.UTC().Format(time.RFC3339), h.LastError)
	}
}

// ensure creates the webhook unless the workspace has one of the same
// name already, which it returns unchanged (make run seeds the demo
// webhook this way on every start).
func ensure(ctx context.Context, reg *registry.Client, ws string, spec webhook.Spec) (webhook.View, error) {
	list, err := reg.List(ctx, ws)
	if err != nil {
		return webhook.View{}, err
	}
	for _, v := range list {
		if v.Name == spec.Name {
			return v, nil
		}
	}
	return reg.Create(ctx, ws, spec)
}
