package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hari-crm/webhooks/publisher"
)

// redeliver sends one delivery again: the same body and X-Webhook-Id,
// signed with the webhook's current secret.
func redeliver(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("redeliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "workspace")
	id := fs.String("webhook", "", "webhook ID")
	delivery := fs.String("delivery", "", "delivery ID (X-Webhook-Id: <event id>:<webhook id>)")
	key := fs.String("key", "", "idempotency key: the same key always names the same redelivery")
	wait := fs.Bool("wait", false, "wait for the redelivery's outcome")
	asJSON := fs.Bool("json", false, "print JSON")
	c := connFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitInvalid, nil
	}
	if *ws == "" || *id == "" || *delivery == "" {
		return exitInvalid, fmt.Errorf("redeliver: --workspace, --webhook and --delivery are required")
	}
	p, closeFn, err := c.publisher()
	if err != nil {
		return exitError, err
	}
	defer closeFn()
	r, err := p.Redeliver(ctx, *ws, *id, *delivery, publisher.RedeliverOptions{Key: *key})
	if err != nil {
		return codeFor(err), err
	}
	if *wait {
		o, err := p.WaitRedelivery(ctx, *ws, r.RedeliveryID)
		if err != nil {
			return exitError, err
		}
		if *asJSON {
			writeJSON(stdout, map[string]any{"redelivery": r, "outcome": o})
		} else {
			fmt.Fprintf(stdout, "redelivery %s of %s\n", r.RedeliveryID, r.RedeliveryOf)
			print(stdout, o, false)
		}
		if anyFailed(o) {
			return exitFailed, nil
		}
		return exitOK, nil
	}
	if *asJSON {
		writeJSON(stdout, r)
		return exitOK, nil
	}
	if r.Duplicate {
		fmt.Fprintf(stdout, "already redelivering: %s (of %s)\n", r.RedeliveryID, r.RedeliveryOf)
	} else {
		fmt.Fprintf(stdout, "redelivery started: %s (of %s)\n", r.RedeliveryID, r.RedeliveryOf)
	}
	return exitOK, nil
}

// recoverCmd starts a recovery of a webhook's failed deliveries since a
// time, or shows (--job) or cancels (--job --cancel) one.
func recoverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "workspace")
	id := fs.String("webhook", "", "webhook ID")
	since := fs.String("since", "", "RFC 3339 time: failed deliveries of events published since then")
	job := fs.String("job", "", "a recovery job's ID: show its progress")
	cancel := fs.Bool("cancel", false, "with --job: cancel the job (redeliveries under way finish)")
	wait := fs.Bool("wait", false, "wait until the job has ended, printing its progress")
	asJSON := fs.Bool("json", false, "print JSON")
	c := connFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitInvalid, nil
	}
	if *ws == "" || *id == "" || (*since == "") == (*job == "") || (*cancel && *job == "") {
		return exitInvalid, fmt.Errorf("recover: --workspace, --webhook and one of --since or --job are required (--cancel needs --job)")
	}
	p, closeFn, err := c.publisher()
	if err != nil {
		return exitError, err
	}
	defer closeFn()
	if *since != "" {
		t, err := time.Parse(time.RFC3339Nano, *since)
		if err != nil {
			return exitInvalid, fmt.Errorf("recover: --since must be an RFC 3339 time such as 2026-03-31T10:00:00Z: %v", err)
		}
		j, err := p.StartRecovery(ctx, *ws, *id, t)
		if err != nil {
			return codeFor(err), err
		}
		*job = j.JobID
		if !*wait {
			if *asJSON {
				writeJSON(stdout, j)
			} else if j.Duplicate {
				fmt.Fprintf(stdout, "recovery already started: job %s\n", j.JobID)
			} else {
				fmt.Fprintf(stdout, "recovery started: job %s\n", j.JobID)
			}
			return exitOK, nil
		}
	}
	if *cancel {
		if err := p.CancelRecovery(ctx, *ws, *id, *job); err != nil {
			return codeFor(err), err
		}
		fmt.Fprintf(stdout, "recovery %s canceled: no more redeliveries start\n", *job)
		return exitOK, nil
	}
	for {
		r, err := p.Recovery(ctx, *ws, *id, *job)
		if err != nil {
			return codeFor(err), err
		}
		if !*wait || r.Done {
			if *asJSON {
				writeJSON(stdout, r)
			} else {
				fmt.Fprintf(stdout, "recovery %s: %s, %d of %d sent, %d failed, %d under way\n", r.JobID, r.State, r.Sent, r.Total, r.Failed, r.Running)
			}
			return exitOK, nil
		}
		select {
		case <-ctx.Done():
			return exitError, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
