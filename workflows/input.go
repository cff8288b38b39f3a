package workflows

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
)

// EventInput is the workflow's input.
//
// Targets are direct-mode targets, as any caller may send them (plaintext
// secret). Routed are the configured webhooks the event matched, with
// their secrets sealed and bound to the event's workspace and the
// webhook's ID: only the publisher fills Routed, after asking the
// registry (publisher.Validate refuses a caller's Routed). A raw Temporal
// client can fill either; a sealed secret in Targets is refused by name,
// and a sealed secret in Routed opens only for the workspace and webhook
// it was sealed for.
type EventInput struct {
	Event   event.Event       `json:"event"`
	Targets []endpoint.Target `json:"targets"`
	Routed  []endpoint.Routed `json:"routed,omitempty"`
	// Continued is set only by the workflow itself when it continues as
	// new: the deliveries as the previous run left them.
	Continued *Continuation `json:"continued,omitempty"`

	// carried[i] holds the router-only keys that direct target i carried
	// in the decoded input (see UnmarshalJSON); never encoded.
	carried map[int]carriedKeys
}

// publishMessage is the JSON shape of a publish message
// (publisher.Message): the event's fields and its direct targets.
type publishMessage struct {
	event.Event
	Targets []endpoint.Target `json:"targets"`
}

// EncodedSize is the size of in's event and direct targets encoded as a
// publish message: what event.MaxSize bounds, at publish and, for raw
// starts, in the workflow.
func EncodedSize(in EventInput) (int, error) {
	b, err := json.Marshal(publishMessage{Event: in.Event, Targets: in.Targets})
	return len(b), err
}

// versionSizeCheck is the workflow.GetVersion change ID of the size check
// in the workflow: an input over event.MaxSize (only a raw start can give
// one; the publisher refuses it) fails InvalidEvent. It is asked only for
// such an input, so other events record no marker; one recorded before it
// replays as it ran.
const versionSizeCheck = "event-size-check"

// ErrTypeInvalidEvent is the failure type of an event workflow whose input
// the worker refused (an invalid event, an oversized input, a workflow ID
// that is not the event's own): nothing was sent.
const ErrTypeInvalidEvent = "InvalidEvent"

// checkSize fails the first run of an event whose input is over
// event.MaxSize encoded (continued runs carry the first run's event).
func checkSize(ctx workflow.Context, in EventInput) error {
	if in.Continued != nil {
		return nil
	}
	n, err := EncodedSize(in)
	if err == nil && n <= event.MaxSize {
		return nil
	}
	if workflow.GetVersion(ctx, versionSizeCheck, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	msg := fmt.Sprintf("event: is %d bytes encoded with its targets, the limit is %d", n, event.MaxSize)
	if err != nil {
		msg = fmt.Sprintf("event: cannot be encoded to measure its size: %v", err)
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidEvent, nil)
}

// carriedKeys are the router-only keys a direct target carried.
type carriedKeys struct {
	name   string // the first such key, for the error
	routed endpoint.Routed
}

// UnmarshalJSON decodes the input and remembers the router-only keys
// (sealed_secret, previous_sealed_secret, previous_until) that any direct
// target carried, so that the workflow refuses them by name instead of
// silently dropping them.
func (in *EventInput) UnmarshalJSON(b []byte) error {
	type plain EventInput
	if err := json.Unmarshal(b, (*plain)(in)); err != nil {
		return err
	}
	in.carried = nil
	var raw struct {
		Targets []map[string]json.RawMessage `json:"targets"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil // the targets decoded above; nothing more to learn
	}
	for i, t := range raw.Targets {
		var name string
		for k := range t {
			for _, ro := range endpoint.RouterOnlyKeys {
				if strings.EqualFold(k, ro) && (name == "" || ro < name) {
					name = ro
				}
			}
		}
		if name == "" {
			continue
		}
		var r endpoint.Routed
		_ = json.Unmarshal(mustJSON(t), &r)
		if in.carried == nil {
			in.carried = map[int]carriedKeys{}
		}
		in.carried[i] = carriedKeys{name: name, routed: r}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TargetIDs are the IDs of every delivery: direct targets, then routed.
func (in EventInput) TargetIDs() []string {
	ids := make([]string, 0, len(in.Targets)+len(in.Routed))
	for _, t := range in.Targets {
		ids = append(ids, t.ID)
	}
	for _, t := range in.Routed {
		ids = append(ids, t.ID)
	}
	return ids
}

// destination is one delivery's target as the workflow uses it.
type destination struct {
	endpoint.Routed
	// Secret is a direct target's plaintext secret.
	Secret string
	// Refused is why the delivery must fail without an attempt.
	Refused string
	// Legacy marks sealed values from an input recorded before routed
	// targets had their own field: the worker may open v1 seals for them.
	Legacy bool
}

// versionRoutedTargets: from this version on, a direct target that
// carries router-only keys is refused. Histories recorded before it (when
// the publisher put sealed secrets in "targets") replay the old way.
const (
	changeRoutedTargets  = "routed-targets"
	versionRoutedTargets = workflow.Version(1)
)

// destinations lists every delivery of the input: direct targets, then
// routed ones. GetVersion is asked only when a direct target carries a
// router-only key, so that ordinary events record no extra marker.
func destinations(ctx workflow.Context, in EventInput) []destination {
	out := make([]destination, 0, len(in.Targets)+len(in.Routed))
	legacy := false
	if len(in.carried) > 0 {
		legacy = workflow.GetVersion(ctx, changeRoutedTargets, workflow.DefaultVersion, versionRoutedTargets) == workflow.DefaultVersion
	}
	for i, t := range in.Targets {
		d := destination{Routed: endpoint.Routed{ID: t.ID, URL: t.URL, Fields: t.Fields, NoSecretHeader: t.SecretHeader != nil && !*t.SecretHeader}, Secret: t.Secret}
		if c, ok := in.carried[i]; ok {
			if legacy {
				d.SealedSecret, d.PreviousSealedSecret, d.PreviousUntil, d.Legacy = c.routed.SealedSecret, c.routed.PreviousSealedSecret, c.routed.PreviousUntil, true
			} else {
				d.Refused = fmt.Sprintf("%v: target %s: %s: a direct target cannot carry a sealed secret; only the webhook registry routes sealed secrets (send a plaintext \"secret\" instead)", endpoint.ErrInvalid, t.ID, c.name)
			}
		}
		out = append(out, d)
	}
	for _, r := range in.Routed {
		out = append(out, destination{Routed: r})
	}
	return out
}
