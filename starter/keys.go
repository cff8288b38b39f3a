package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/registry"
)

// keys manages codec keys: a new key entry, and re-sealing every webhook
// secret of one registry (or of all) with the active key, so that an old
// key can be retired.
func keys(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return exitInvalid, errors.New("keys: name a subcommand: new, reseal")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch sub {
	case "new":
		id := fs.String("id", "", "id of the new key (for example k2)")
		if err := fs.Parse(rest); err != nil {
			return exitInvalid, nil
		}
		if *id == "" {
			return exitInvalid, errors.New("keys new: --id is required")
		}
		spec, err := codec.NewKeySpec(*id)
		if err != nil {
			return exitError, err
		}
		fmt.Fprintln(stdout, spec)
		return exitOK, nil
	case "reseal":
		ws := fs.String("workspace", "", "workspace whose registry to re-seal")
		all := fs.Bool("all", false, "re-seal every running registry (found through visibility)")
		asJSON := fs.Bool("json", false, "print JSON")
		c := connFlags(fs)
		if err := fs.Parse(rest); err != nil {
			return exitInvalid, nil
		}
		if (*ws == "") == !*all {
			return exitInvalid, errors.New("keys reseal: give either --workspace W or --all")
		}
		_, reg, closeFn, err := c.clients()
		if err != nil {
			return exitError, err
		}
		defer closeFn()
		var out []registry.ResealOutcome
		if *all {
			// One registry that cannot be re-sealed now (say it is being
			// recovered) does not stop the others; the exit code says so.
			out, err = reg.ResealAll(ctx)
		} else {
			var n int
			if n, err = reg.Reseal(ctx, *ws); err != nil {
				return codeFor(err), fmt.Errorf("keys reseal: workspace %s: %w", *ws, err)
			}
			out = []registry.ResealOutcome{{Workspace: *ws, Resealed: n}}
		}
		if out == nil && err != nil {
			return exitError, err
		}
		if out == nil {
			out = []registry.ResealOutcome{} // JSON: [] when there are none
		}
		failed := 0
		for _, r := range out {
			if r.Error != "" {
				failed++
			}
			if !*asJSON {
				if r.Error != "" {
					fmt.Fprintf(stdout, "workspace %s: FAILED: %s\n", r.Workspace, r.Error)
				} else {
					fmt.Fprintf(stdout, "workspace %s: %d webhook secrets re-sealed\n", r.Workspace, r.Resealed)
				}
			}
		}
		if *asJSON {
			writeJSON(stdout, map[string]any{"workspaces": out})
		}
		if failed > 0 {
			return exitError, fmt.Errorf("keys reseal: %d of %d workspaces failed; run it again for them before retiring a key", failed, len(out))
		}
		return exitOK, nil
	}
	return exitInvalid, fmt.Errorf("keys: unknown subcommand %q (new, reseal)", sub)
}
