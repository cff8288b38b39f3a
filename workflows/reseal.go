package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Re-sealing a registry's secrets with the newest codec key. The registry
// never sees a plaintext secret: the client (which holds the key ring)
// reads the sealed secrets (QuerySecrets), opens each with the key that
// sealed it and seals it again with the active key, and sends the results
// (UpdateReseal). The registry then continues as new, so that the new
// run's history holds only payloads under the newest key and the old key
// can be retired.
const (
	UpdateReseal = "reseal"
	QuerySecrets = "secrets"
)

// StoredSecret is a webhook's sealed secrets as the registry holds them.
type StoredSecret struct {
	ID string `json:"id"`
	// URL is the webhook's URL: a re-sealed secret is bound to it.
	URL            string    `json:"url"`
	Sealed         string    `json:"sealed,omitempty"`
	PreviousSealed string    `json:"previous_sealed,omitempty"`
	PreviousUntil  time.Time `json:"previous_until,omitempty"`
}

// ResealEntry replaces one webhook's sealed secrets. Old* are the values
// the client read: a webhook whose secret changed since is refused, so a
// rotation made meanwhile is never overwritten.
type ResealEntry struct {
	ID                string `json:"id"`
	OldSealed         string `json:"old_sealed"`
	Sealed            string `json:"sealed"`
	OldPreviousSealed string `json:"old_previous_sealed"`
	// PreviousSealed "" drops the previous secret (its grace period is over).
	PreviousSealed string `json:"previous_sealed"`
}

// ResealRequest is the argument of UpdateReseal.
type ResealRequest struct {
	Entries []ResealEntry `json:"entries"`
}

// ResealResult says how many webhooks got new seals.
type ResealResult struct {
	Resealed int `json:"resealed"`
}

// sealPrefix is the format a client must seal in (codec.SealPrefix: v3,
// bound to the workspace, webhook and URL).
const sealPrefix = "sealed:v3:"

func (r *registry) validateReseal(req ResealRequest) error {
	seen := map[string]bool{}
	for i, e := range req.Entries {
		field := fmt.Sprintf("entries[%d]", i)
		if seen[e.ID] {
			return invalidWebhook(field, "webhook "+e.ID+" appears twice")
		}
		seen[e.ID] = true
		j, err := r.find(e.ID)
		if err != nil {
			return err
		}
		w := r.state.Webhooks[j]
		if w.SealedSecret != e.OldSealed || w.PreviousSealedSecret != e.OldPreviousSealed {
			return invalidWebhook(field, "the secret of webhook "+e.ID+" changed since it was read; run the reseal again")
		}
		if (e.Sealed == "") != (e.OldSealed == "") {
			return invalidWebhook(field, "a reseal keeps a secret or its absence; it cannot add or remove one")
		}
		if e.PreviousSealed != "" && e.OldPreviousSealed == "" {
			return invalidWebhook(field, "a reseal cannot add a previous secret")
		}
		for _, s := range []string{e.Sealed, e.PreviousSealed} {
			if s != "" && !strings.HasPrefix(s, sealPrefix) {
				return invalidWebhook(field, "re-sealed secrets must be in format v3 (sealed:v3:...), sealed by the client")
			}
		}
	}
	return nil
}

// reseal applies validated entries and asks for a continue-as-new.
func (r *registry) reseal(ctx workflow.Context, req ResealRequest) (ResealResult, error) {
	n := 0
	for _, e := range req.Entries {
		j, err := r.find(e.ID)
		if err != nil {
			return ResealResult{}, err
		}
		w := &r.state.Webhooks[j]
		w.SealedSecret, w.PreviousSealedSecret = e.Sealed, e.PreviousSealed
		if e.PreviousSealed == "" {
			w.PreviousUntil = time.Time{}
		}
		n++
	}
	if n > 0 {
		r.resealed = true
	}
	return ResealResult{Resealed: n}, nil
}

func (r *registry) storedSecrets() ([]StoredSecret, error) {
	out := []StoredSecret{}
	for _, w := range r.state.Webhooks {
		if w.SealedSecret == "" && w.PreviousSealedSecret == "" {
			continue
		}
		out = append(out, StoredSecret{ID: w.ID, URL: w.URL, Sealed: w.SealedSecret, PreviousSealed: w.PreviousSealedSecret, PreviousUntil: w.PreviousUntil})
	}
	return out, nil
}

func (r *registry) registerReseal(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReseal, func(ctx workflow.Context, req ResealRequest) (ResealResult, error) {
		r.writes++
		return r.reseal(ctx, req)
	}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req ResealRequest) error { return r.validateReseal(req) }}); err != nil {
		return fmt.Errorf("set update handler %s: %w", UpdateReseal, err)
	}
	if err := workflow.SetQueryHandler(ctx, QuerySecrets, r.storedSecrets); err != nil {
		return fmt.Errorf("set query handler %s: %w", QuerySecrets, err)
	}
	return nil
}
