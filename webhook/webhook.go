// Package webhook defines a workspace's configured webhooks: trigger
// (entity and event types), conditions, URL, secret, field selection and
// active state; their validation, matching against events, and the sample
// event a Test fire sends. It is pure code.
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hari-crm/webhooks/condition"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/signature"
)

// Entities are the record types a webhook can trigger on.
var Entities = []string{"account", "company", "contact", "lead", "opportunity"}

// Config is what an admin edits.
type Config struct {
	Name       string                `json:"name"`
	Entity     string                `json:"entity"`
	Events     []event.Type          `json:"events"`
	Match      condition.Match       `json:"match,omitempty"`
	Conditions []condition.Condition `json:"conditions,omitempty"`
	URL        string                `json:"url"`
	Fields     []string              `json:"fields,omitempty"`
	Active     *bool                 `json:"active,omitempty"`
	// SecretHeader false sends only the signatures, not the secret itself
	// in X-Webhook-Secret. Nil means true on create and keeps the current
	// choice on update.
	SecretHeader *bool `json:"secret_header,omitempty"`
}

// Spec is a create or update request: the configuration and, optionally,
// the plaintext secret (nil keeps the current one on update; "" removes it).
type Spec struct {
	Config
	Secret *string `json:"secret,omitempty"`
}

// Webhook is a stored webhook. Its secret is kept only sealed (see
// codec.Keyring.Seal) with a masked hint for display.
type Webhook struct {
	ID           string                `json:"id"`
	Workspace    string                `json:"workspace"`
	Name         string                `json:"name"`
	Entity       string                `json:"entity"`
	Events       []event.Type          `json:"events"`
	Match        condition.Match       `json:"match,omitempty"`
	Conditions   []condition.Condition `json:"conditions,omitempty"`
	URL          string                `json:"url"`
	Fields       []string              `json:"fields,omitempty"`
	Active       bool                  `json:"active"`
	SealedSecret string                `json:"sealed_secret,omitempty"`
	SecretHint   string                `json:"secret_hint,omitempty"`
	// PreviousSealedSecret keeps signing until PreviousUntil after a
	// rotation, so receivers can switch secrets at their own pace.
	PreviousSealedSecret string    `json:"previous_sealed_secret,omitempty"`
	PreviousUntil        time.Time `json:"previous_until,omitempty"`
	// NoSecretHeader: send only the signatures, not X-Webhook-Secret
	// (stored negated so that webhooks saved before the option send it).
	NoSecretHeader bool      `json:"no_secret_header,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// Disabled is set when HARi disabled the webhook because its endpoint
	// kept failing; Activate clears it, and so does Deactivate (a manual
	// deactivation is a state of its own).
	Disabled *Disabled `json:"disabled,omitempty"`
	// EnabledAt is when the webhook was last activated or re-enabled:
	// health and auto-disable ignore the failures before it.
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
	// RecoverSince is when the failures that got the webhook last
	// disabled began (that disable's failing since): where a recovery
	// after Re-enable starts. Kept after Re-enable, until the next
	// disable replaces it (unset by a disable that did not say).
	RecoverSince *time.Time `json:"recover_since,omitempty"`
}

// Disabled says when and why a webhook was disabled automatically.
type Disabled struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// MaxDisabledReason bounds a disable reason, in bytes as the registry
// stores it: JSON-encoded, quotes and escapes included.
const MaxDisabledReason = 200

// ValidReason reports whether reason is a disable reason the registry
// keeps: not empty, valid UTF-8, within MaxDisabledReason encoded.
func ValidReason(reason string) bool {
	return reason != "" && utf8.ValidString(reason) && EncodedSize(reason) <= MaxDisabledReason
}

// CutReason makes s a valid reason: invalid UTF-8 replaced, and cut at a
// rune boundary to MaxDisabledReason encoded bytes, ending in "..." when
// cut.
func CutReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if EncodedSize(s) <= MaxDisabledReason {
		return s
	}
	budget := MaxDisabledReason - EncodedSize("...")
	var b strings.Builder
	for _, r := range s {
		n := EncodedSize(string(r)) - 2 // without the quotes
		if n > budget {
			break
		}
		budget -= n
		b.WriteRune(r)
	}
	return b.String() + "..."
}

// Webhook states (View.State).
const (
	StateActive   = "active"
	StateInactive = "inactive"
	StateDisabled = "disabled"
)

// State is the webhook's state: inactive (deactivated by hand), disabled
// (by HARi, its endpoint failing) or active.
func (w Webhook) State() string {
	switch {
	case !w.Active:
		return StateInactive
	case w.Disabled != nil:
		return StateDisabled
	}
	return StateActive
}

// View is what queries, the API and the CLI show: no sealed secret, only
// whether there is one and its masked hint.
type View struct {
	ID             string                `json:"id"`
	Workspace      string                `json:"workspace"`
	Name           string                `json:"name"`
	Entity         string                `json:"entity"`
	Events         []event.Type          `json:"events"`
	Match          condition.Match       `json:"match,omitempty"`
	Conditions     []condition.Condition `json:"conditions"`
	ConditionsText string                `json:"conditions_text"`
	URL            string                `json:"url"`
	Fields         []string              `json:"fields"`
	Active         bool                  `json:"active"`
	HasSecret      bool                  `json:"has_secret"`
	Secret         string                `json:"secret,omitempty"` // masked, e.g. "********abcd"
	// SecretHeader says whether deliveries carry X-Webhook-Secret.
	SecretHeader bool      `json:"secret_header"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// State is active, inactive or disabled; a disabled webhook has the
	// time and the reason.
	State      string     `json:"state"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	// EnabledAt is when it was last activated or re-enabled (failures
	// before it are not counted in its health's streak).
	EnabledAt      *time.Time `json:"enabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	// RecoverSince is when the failures that got the webhook last
	// disabled began: what Re-enable offers to recover since. Shown from
	// that disable on, also once re-enabled, until the next disable.
	RecoverSince *time.Time `json:"recover_since,omitempty"`
}

// View returns the displayable form.
func (w Webhook) View() View {
	v := View{
		ID: w.ID, Workspace: w.Workspace, Name: w.Name, Entity: w.Entity, Events: w.Events, Match: w.Match,
		Conditions: w.Conditions, ConditionsText: condition.DescribeAll(w.Match, w.Conditions),
		URL: w.URL, Fields: w.Fields, Active: w.Active, HasSecret: w.SealedSecret != "", Secret: w.SecretHint,
		SecretHeader: !w.NoSecretHeader, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, State: w.State(),
	}
	if w.EnabledAt != nil {
		at := *w.EnabledAt
		v.EnabledAt = &at
	}
	if w.RecoverSince != nil {
		at := *w.RecoverSince
		v.RecoverSince = &at
	}
	if w.Disabled != nil && v.State == StateDisabled {
		at := w.Disabled.At
		v.DisabledAt, v.DisabledReason = &at, w.Disabled.Reason
	}
	if v.Conditions == nil {
		v.Conditions = []condition.Condition{}
	}
	if v.Fields == nil {
		v.Fields = []string{}
	}
	return v
}

// FieldError names the field a validation error is about.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid webhook")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Bounds of a definition. A workspace's registry keeps up to 200 webhooks
// and their last Test fire results in one workflow state, which Temporal
// refuses above 2 MiB once encoded; these keep the worst case far below.
const (
	MaxNameRunes  = 100
	MaxFields     = 100
	MaxFieldBytes = 100
	// MaxDefinitionBytes bounds the whole definition as it is stored: its
	// JSON encoding with <, > and & escaped (as Temporal's JSON converter
	// writes it, up to 6 bytes for one byte of input).
	MaxDefinitionBytes = 4096
	// MaxStoredBytes bounds a stored webhook (definition, ID, workspace,
	// sealed secrets, times), encoded the same way.
	MaxStoredBytes = 6144
)

// EncodedSize is the size of v's JSON encoding as Temporal's JSON payload
// converter writes it (encoding/json, HTML characters escaped).
func EncodedSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// Validate checks a configuration on its own (uniqueness of the name is
// the registry's to check).
func (c Config) Validate() error {
	name := strings.TrimSpace(c.Name)
	switch {
	case name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(name) > MaxNameRunes:
		return invalid("name", "is longer than %d characters", MaxNameRunes)
	case name != c.Name:
		return invalid("name", "must not start or end with spaces")
	case !utf8.ValidString(name):
		return invalid("name", "is not valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return invalid("name", "must not contain control characters")
	}
	if c.Entity == "" {
		return invalid("entity", "is required (one of %s)", strings.Join(Entities, ", "))
	}
	if !slices.Contains(Entities, c.Entity) {
		return invalid("entity", "unknown entity %q (one of %s)", c.Entity, strings.Join(Entities, ", "))
	}
	if len(c.Events) == 0 {
		return invalid("events", "choose at least one event type")
	}
	seen := map[event.Type]bool{}
	for _, t := range c.Events {
		if !t.Valid() {
			return invalid("events", "unknown event type %q", t)
		}
		if seen[t] {
			return invalid("events", "%s is listed twice", t)
		}
		seen[t] = true
	}
	if err := condition.ValidateAll(c.Match, c.Conditions); err != nil {
		return invalid("conditions", "%s", strings.TrimPrefix(err.Error(), ""))
	}
	if err := endpoint.ValidateURL(c.URL); err != nil {
		return invalid("url", "%s", strings.TrimPrefix(err.Error(), endpoint.ErrInvalid.Error()+": "))
	}
	if len(c.Fields) > MaxFields {
		return invalid("fields", "at most %d fields, got %d", MaxFields, len(c.Fields))
	}
	seenField := map[string]bool{}
	for _, f := range c.Fields {
		if strings.TrimSpace(f) == "" || len(f) > MaxFieldBytes {
			return invalid("fields", "field names must be 1 to %d bytes", MaxFieldBytes)
		}
		if seenField[f] {
			return invalid("fields", "%q is listed twice", f)
		}
		seenField[f] = true
	}
	if n := EncodedSize(c); n > MaxDefinitionBytes {
		return invalid("definition", "is %d bytes once encoded as JSON (<, > and & count 6 bytes each), at most %d: shorten the URL, conditions, fields or name", n, MaxDefinitionBytes)
	}
	return nil
}

// ValidateSecret checks a new plaintext secret.
func ValidateSecret(s string) error {
	if s == "" {
		return nil
	}
	if len(s) < 8 || len(s) > 256 {
		return invalid("secret", "must be 8 to 256 characters")
	}
	if err := signature.CheckSecret(s); err != nil {
		return invalid("secret", "%s", err.Error())
	}
	return nil
}

// Matches reports whether ev should be delivered to w: w is active, the
// entity and event type are w's trigger, and the conditions hold.
func (w Webhook) Matches(ev event.Event) bool {
	return w.Active && w.Entity == ev.Entity && slices.Contains(w.Events, ev.Type) &&
		condition.EvalAll(w.Match, w.Conditions, ev)
}

// Target is where a delivery of w goes, with its secret still sealed.
func (w Webhook) Target() endpoint.Routed {
	return endpoint.Routed{
		ID: w.ID, URL: w.URL, SealedSecret: w.SealedSecret, PreviousSealedSecret: w.PreviousSealedSecret,
		PreviousUntil: w.PreviousUntil, Fields: w.Fields, NoSecretHeader: w.NoSecretHeader,
	}
}

// RotationGrace is how long a replaced secret keeps signing.
const RotationGrace = 24 * time.Hour

// SetSecret replaces the sealed secret at now; the old one keeps signing
// for RotationGrace. An empty sealed removes the secret (and any old one).
func (w *Webhook) SetSecret(sealed, hint string, now time.Time) {
	switch {
	case sealed == "":
		w.PreviousSealedSecret, w.PreviousUntil = "", time.Time{}
		hint = ""
	case w.SealedSecret != "" && w.SealedSecret != sealed:
		w.PreviousSealedSecret, w.PreviousUntil = w.SealedSecret, now.Add(RotationGrace)
	}
	w.SealedSecret, w.SecretHint = sealed, hint
}

// Apply sets the configuration fields of w from c.
func (w *Webhook) Apply(c Config) {
	w.Name, w.Entity, w.Events, w.Match, w.Conditions, w.URL, w.Fields = c.Name, c.Entity, c.Events, c.Match, c.Conditions, c.URL, c.Fields
	if c.Active != nil {
		w.Active = *c.Active
	}
	if c.SecretHeader != nil {
		w.NoSecretHeader = !*c.SecretHeader
	}
}
