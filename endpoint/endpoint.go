// Package endpoint describes where a delivery goes: a target's URL, secret
// and field selection, and the rules a URL must pass.
package endpoint

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	wurl "github.com/nlnwa/whatwg-url/url"

	"github.com/hari-crm/webhooks/signature"
)

// Target is a destination a caller names directly in a publish ("direct
// mode"): what a caller may send. It has no sealed fields: those belong to
// Routed, which only the webhook registry produces.
type Target struct {
	// ID names the webhook; it is part of the delivery ID.
	ID string `json:"id"`
	// URL is the https:// endpoint.
	URL string `json:"url"`
	// Secret, when set, signs every request (X-Webhook-Signature).
	Secret string `json:"secret,omitempty"`
	// Fields selects the record fields of the payload; empty means all.
	Fields []string `json:"fields,omitempty"`
	// SecretHeader false sends only the signatures, not X-Webhook-Secret;
	// nil means true (the spec's default).
	SecretHeader *bool `json:"secret_header,omitempty"`
}

// RouterOnlyKeys are the JSON keys of a Routed target that a caller's
// Target never has: a direct target that carries one is refused by name.
var RouterOnlyKeys = []string{"sealed_secret", "previous_sealed_secret", "previous_until"}

// RouterOnlyMessage explains the refusal of a key a caller sent, when it
// is one of RouterOnlyKeys (compared ignoring case, as encoding/json does).
func RouterOnlyMessage(key string) (string, bool) {
	for _, k := range RouterOnlyKeys {
		if strings.EqualFold(k, key) {
			return "sealed secrets are produced only by the webhook registry and are never accepted from a caller; send the plaintext \"secret\" instead", true
		}
	}
	return "", false
}

// Routed is a configured webhook's destination, produced only by the
// webhook registry (at publish time, for the events it matches). Its
// secrets are sealed (codec.Keyring.Seal) and bound to the event's
// workspace and this webhook's ID: the worker opens them with those two
// names, so a sealed secret copied anywhere else does not open.
type Routed struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// SealedSecret is opened by the worker just before signing.
	SealedSecret string `json:"sealed_secret,omitempty"`
	// PreviousSealedSecret also signs (webhook-signature) until
	// PreviousUntil: the grace period of a secret rotation.
	PreviousSealedSecret string    `json:"previous_sealed_secret,omitempty"`
	PreviousUntil        time.Time `json:"previous_until,omitempty"`
	Fields               []string  `json:"fields,omitempty"`
	// NoSecretHeader sends only the signatures, not X-Webhook-Secret.
	NoSecretHeader bool `json:"no_secret_header,omitempty"`
	// Disabled: the webhook was disabled because its endpoint kept
	// failing; the delivery is recorded as skipped, not attempted.
	Disabled bool `json:"disabled,omitempty"`
}

// MaxTargetsPerHost bounds the direct targets of one event that go to
// one host (as browsers read it, Host): more would let one publish fan out
// against one receiver through URLs that differ only in path or query.
const MaxTargetsPerHost = 5

// PerHostError says why the index-th direct target (0-based) of an
// event's targets is over MaxTargetsPerHost, or "" when none is. first
// names the first target of that host.
func PerHostError(targets []Target) (index int, msg string) {
	count := map[string]int{}
	first := map[string]string{}
	for i, t := range targets {
		h := Host(t.URL)
		if _, ok := first[h]; !ok {
			first[h] = t.ID
		}
		count[h]++
		if count[h] > MaxTargetsPerHost {
			return i, fmt.Sprintf("target %s: url: more than %d direct targets of one event go to host %s (the first is %s); an event names at most %d URLs per host", t.ID, MaxTargetsPerHost, h, first[h], MaxTargetsPerHost)
		}
	}
	return -1, ""
}

// Validate checks a routed target's id, URL and fields.
func (t Routed) Validate() error {
	return Target{ID: t.ID, URL: t.URL, Fields: t.Fields}.Validate()
}

// ErrInvalid is wrapped by every target validation error.
var ErrInvalid = errors.New("invalid target")

// MaxURLLen bounds a webhook URL.
const MaxURLLen = 2048

// ValidateURL checks that raw is an absolute https:// URL with a host and no
// credentials or fragment, whose host browsers read as valid and which is
// no IPv4 address in disguise (see host.go).
func ValidateURL(raw string) error {
	u, b, err := parseURL(raw)
	if err != nil {
		return err
	}
	return checkDisguise(u.Hostname(), b)
}

// parseURL makes every check of ValidateURL but the one for IPv4
// addresses in disguise, and returns the URL as Go and as browsers read it.
func parseURL(raw string) (*url.URL, *wurl.Url, error) {
	u, err := goURL(raw)
	if err != nil {
		return nil, nil, err
	}
	b, err := browserURL(raw)
	if err != nil {
		return nil, nil, err
	}
	return u, b, nil
}

// goURL makes the checks of a URL as Go reads it.
func goURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: url is required", ErrInvalid)
	}
	if len(raw) > MaxURLLen {
		return nil, fmt.Errorf("%w: url is longer than %d bytes", ErrInvalid, MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: url %q does not parse: %v", ErrInvalid, raw, err)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		scheme := u.Scheme
		if scheme == "" {
			scheme = "none"
		}
		return nil, fmt.Errorf("%w: url must use https (got scheme %s); plain HTTP endpoints are rejected for security", ErrInvalid, scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: url %q has no host", ErrInvalid, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: url must not carry credentials; use a secret instead", ErrInvalid)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%w: url must not have a fragment", ErrInvalid)
	}
	return u, nil
}

// Validate checks the whole target.
func (t Target) Validate() error { return t.validate(ValidateURL) }

// ValidateRecorded checks a target as Validate did before URL hosts were
// read the way browsers read them: the event workflow checks its input
// with it, so that an input recorded before that change replays to the
// same commands. Such a target's host is still read as browsers read it
// when it is dialled (DialURL), where the guard refuses internal addresses.
func (t Target) ValidateRecorded() error {
	return t.validate(func(raw string) error {
		_, err := goURL(raw)
		return err
	})
}

func (t Target) validate(validateURL func(string) error) error {
	id := strings.TrimSpace(t.ID)
	if id == "" {
		return fmt.Errorf("%w: id is required", ErrInvalid)
	}
	if len(id) > 200 || strings.ContainsAny(t.ID, "/ \t\r\n\x00") {
		return fmt.Errorf("%w: id %q must be at most 200 bytes without spaces or slashes", ErrInvalid, t.ID)
	}
	if err := validateURL(t.URL); err != nil {
		return fmt.Errorf("target %s: %w", t.ID, err)
	}
	if err := signature.CheckSecret(t.Secret); err != nil {
		return fmt.Errorf("%w: target %s: secret: %v", ErrInvalid, t.ID, err)
	}
	for _, f := range t.Fields {
		if strings.TrimSpace(f) == "" {
			return fmt.Errorf("%w: target %s: field names must not be empty", ErrInvalid, t.ID)
		}
	}
	return nil
}

// MaskSecret returns a form of a secret that is safe to show: the last
// four characters of a secret of 16 or more, nothing of a shorter one.
func MaskSecret(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) < 16 { // too short to show any of it
		return "********"
	}
	return "********" + string(r[len(r)-4:])
}
