// Package condition decides whether an event satisfies a webhook's
// conditions: "field equals value", "field changed", "field changed from
// X", "field changed to Y", combined with AND (or OR). It is pure code.
//
// One condition is one line of JSON:
//
//	{"field": "stage", "op": "changed_to", "value": "Closed Won"}
package condition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hari-crm/webhooks/event"
)

// Op is a comparison.
type Op string

// The operators.
const (
	Equals      Op = "equals"       // record field equals value
	NotEquals   Op = "not_equals"   // record field is absent or differs from value
	Changed     Op = "changed"      // the field is in changes (to anything)
	ChangedFrom Op = "changed_from" // the field changed and its old value equals value
	ChangedTo   Op = "changed_to"   // the field changed and its new value equals value
)

// Ops lists every operator.
var Ops = []Op{Equals, NotEquals, Changed, ChangedFrom, ChangedTo}

// Condition is one test on an event.
type Condition struct {
	Field string          `json:"field"`
	Op    Op              `json:"op"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Match says how conditions combine.
type Match string

// The combinations.
const (
	All Match = "all" // AND (the default)
	Any Match = "any" // OR
)

// ErrInvalid is wrapped by every condition validation error.
var ErrInvalid = errors.New("invalid condition")

// Bounds of a condition list: a webhook's conditions live in its
// workspace's registry state, which must stay small (see webhook.MaxDefinitionBytes).
const (
	MaxConditions = 20
	MaxFieldBytes = 100
	MaxValueBytes = 512 // a value as written (raw JSON)
)

// Validate checks one condition.
func (c Condition) Validate() error {
	if strings.TrimSpace(c.Field) == "" {
		return fmt.Errorf("%w: field is required", ErrInvalid)
	}
	if len(c.Field) > MaxFieldBytes {
		return fmt.Errorf("%w: field %q is longer than %d bytes", ErrInvalid, c.Field[:20]+"...", MaxFieldBytes)
	}
	if len(c.Value) > MaxValueBytes {
		return fmt.Errorf("%w: value of %q is %d bytes, longer than %d", ErrInvalid, c.Field, len(c.Value), MaxValueBytes)
	}
	switch c.Op {
	case Equals, NotEquals, ChangedFrom, ChangedTo:
		if len(bytes.TrimSpace(c.Value)) == 0 {
			return fmt.Errorf("%w: %s on %q needs a value", ErrInvalid, c.Op, c.Field)
		}
		if !json.Valid(c.Value) {
			return fmt.Errorf("%w: value of %q is not valid JSON", ErrInvalid, c.Field)
		}
	case Changed:
		if len(bytes.TrimSpace(c.Value)) > 0 && string(bytes.TrimSpace(c.Value)) != "null" {
			return fmt.Errorf("%w: changed on %q takes no value (use changed_to or changed_from)", ErrInvalid, c.Field)
		}
	case "":
		return fmt.Errorf("%w: op is required on %q (one of %s)", ErrInvalid, c.Field, opList())
	default:
		return fmt.Errorf("%w: unknown op %q on %q (one of %s)", ErrInvalid, c.Op, c.Field, opList())
	}
	return nil
}

// ValidateAll checks a list of conditions and how they combine.
func ValidateAll(match Match, cs []Condition) error {
	if match != "" && match != All && match != Any {
		return fmt.Errorf("%w: match must be %q or %q, got %q", ErrInvalid, All, Any, match)
	}
	if len(cs) > MaxConditions {
		return fmt.Errorf("%w: at most %d conditions, got %d", ErrInvalid, MaxConditions, len(cs))
	}
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("condition %d: %w", i+1, err)
		}
	}
	return nil
}

// Eval reports whether ev satisfies c.
func (c Condition) Eval(ev event.Event) bool {
	switch c.Op {
	case Equals:
		v, ok := ev.Record[c.Field]
		return ok && equal(v, c.Value)
	case NotEquals:
		v, ok := ev.Record[c.Field]
		return !ok || !equal(v, c.Value)
	case Changed:
		_, ok := ev.Changes[c.Field]
		return ok
	case ChangedFrom:
		ch, ok := ev.Changes[c.Field]
		return ok && equal(ch.Old, c.Value)
	case ChangedTo:
		ch, ok := ev.Changes[c.Field]
		return ok && equal(ch.New, c.Value)
	}
	return false
}

// EvalAll combines conditions; no conditions always match.
func EvalAll(match Match, cs []Condition, ev event.Event) bool {
	if len(cs) == 0 {
		return true
	}
	if match == Any {
		for _, c := range cs {
			if c.Eval(ev) {
				return true
			}
		}
		return false
	}
	for _, c := range cs {
		if !c.Eval(ev) {
			return false
		}
	}
	return true
}

// Describe puts a condition in words: `stage changed to "Closed Won"`.
func (c Condition) Describe() string {
	v := string(bytes.TrimSpace(c.Value))
	switch c.Op {
	case Equals:
		return fmt.Sprintf("%s is %s", c.Field, v)
	case NotEquals:
		return fmt.Sprintf("%s is not %s", c.Field, v)
	case Changed:
		return fmt.Sprintf("%s changed", c.Field)
	case ChangedFrom:
		return fmt.Sprintf("%s changed from %s", c.Field, v)
	case ChangedTo:
		return fmt.Sprintf("%s changed to %s", c.Field, v)
	}
	return fmt.Sprintf("%s %s %s", c.Field, c.Op, v)
}

// DescribeAll puts a list of conditions in words.
func DescribeAll(match Match, cs []Condition) string {
	if len(cs) == 0 {
		return "always"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Describe()
	}
	sep := " and "
	if match == Any {
		sep = " or "
	}
	return strings.Join(parts, sep)
}

// equal compares two JSON values by meaning: 48000 equals 48000.0, key
// order does not matter.
func equal(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func opList() string {
	s := make([]string, len(Ops))
	for i, o := range Ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}
