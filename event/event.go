// Package event defines HARi CRM events: the six event types, their shape,
// and the strict decoding and validation every event passes before any
// workflow starts. It has no Temporal dependency.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Type is the kind of change an event reports, as it appears in the payload's
// "event" field.
type Type string

// The six event types of the spec.
const (
	RecordCreated     Type = "record.created"
	RecordUpdated     Type = "record.updated"
	RecordDeleted     Type = "record.deleted"
	StageChanged      Type = "stage.changed"
	StatusChanged     Type = "status.changed"
	AssignmentChanged Type = "assignment.changed"
)

// Types lists every event type in the order the spec lists them.
var Types = []Type{RecordCreated, RecordUpdated, RecordDeleted, StageChanged, StatusChanged, AssignmentChanged}

// Valid reports whether t is one of the six event types.
func (t Type) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// IsModification reports whether events of this type carry "changes":
// record.updated, stage.changed, status.changed and assignment.changed do;
// record.created and record.deleted do not.
func (t Type) IsModification() bool {
	switch t {
	case RecordUpdated, StageChanged, StatusChanged, AssignmentChanged:
		return true
	}
	return false
}

// MaxSize is the largest encoded event accepted at publish (256 KiB).
const MaxSize = 256 << 10

// Record is a CRM record's fields. Each value is kept as its exact JSON, so
// numbers keep their precision on the way through Temporal.
type Record map[string]json.RawMessage

// Change is one field's old and new value in a modification event.
type Change struct {
	Old json.RawMessage `json:"old"`
	New json.RawMessage `json:"new"`
}

// Values builds a Record from Go values (for tests and sample payloads).
func Values(m map[string]any) Record {
	r := make(Record, len(m))
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		r[k] = b
	}
	return r
}

// ChangeOf builds a Change from Go values.
func ChangeOf(old, new any) Change {
	o, _ := json.Marshal(old)
	n, _ := json.Marshal(new)
	return Change{Old: o, New: n}
}

// String returns field as a string when it is a JSON string.
func (r Record) String(field string) (string, bool) {
	raw, ok := r[field]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// Event is one CRM event. ID is HARi's identifier of the event (not part of
// the delivered payload; it names the workflow and de-duplicates publishes).
type Event struct {
	ID        string            `json:"id,omitempty"`
	Type      Type              `json:"event"`
	Entity    string            `json:"entity"`
	Timestamp string            `json:"timestamp"`
	Workspace string            `json:"workspace"`
	Record    Record            `json:"record"`
	Changes   map[string]Change `json:"changes,omitempty"`
}

// RecordID returns the record's "id" field.
func (e Event) RecordID() string {
	s, _ := e.Record.String("id")
	return s
}

// FieldError is a validation error that names the offending field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ErrInvalid is wrapped by every validation and decoding error, so callers
// can tell bad input from infrastructure failures with errors.Is.
var ErrInvalid = errors.New("invalid event")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalid, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

const maxIDLen = 200

// Validate checks everything a delivery relies on. It returns the first
// problem found, as an error wrapping ErrInvalid and a *FieldError.
func (e Event) Validate() error {
	if e.ID != "" {
		if err := validateID(e.ID); err != nil {
			return err
		}
	}
	switch {
	case e.Type == "":
		return invalid("event", "is required (one of %s)", typeList())
	case !e.Type.Valid():
		return invalid("event", "unknown event type %q (want one of %s)", e.Type, typeList())
	}
	if err := validateName("workspace", e.Workspace); err != nil {
		return err
	}
	if err := validateName("entity", e.Entity); err != nil {
		return err
	}
	if e.Timestamp == "" {
		return invalid("timestamp", "is required (RFC 3339, e.g. 2026-03-31T14:30:00Z)")
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
		return invalid("timestamp", "%q is not an RFC 3339 timestamp (e.g. 2026-03-31T14:30:00Z)", e.Timestamp)
	}
	if e.Record == nil {
		return invalid("record", "is required and must be an object with an id")
	}
	if raw, ok := e.Record["id"]; !ok || string(raw) == "null" {
		return invalid("record.id", "is required")
	}
	if s, ok := e.Record.String("id"); !ok || strings.TrimSpace(s) == "" {
		return invalid("record.id", "must be a non-empty string")
	}
	if e.Type.IsModification() {
		if len(e.Changes) == 0 {
			return invalid("changes", "%s needs at least one changed field with old and new values", e.Type)
		}
		for _, k := range sortedKeys(e.Changes) {
			if strings.TrimSpace(k) == "" {
				return invalid("changes", "field names must not be empty")
			}
			c := e.Changes[k]
			if len(c.Old) == 0 || len(c.New) == 0 {
				return invalid("changes."+k, `must be an object with "old" and "new" (null for an empty value), e.g. {"old":"qualification","new":"proposal"}`)
			}
		}
	} else if len(e.Changes) > 0 {
		return invalid("changes", "only modification events carry changes; %s does not", e.Type)
	}
	return nil
}

// ValidateID checks the event's ID alone.
func (e Event) ValidateID() error {
	if e.ID == "" {
		return invalid("id", "is required")
	}
	return validateID(e.ID)
}

func validateID(id string) error {
	if len(id) > maxIDLen {
		return invalid("id", "is longer than %d bytes", maxIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return invalid("id", "%q may hold only letters, digits and - _ . :", id)
		}
	}
	return nil
}

// ValidateWorkspace checks a workspace name by the rules of an event's.
func ValidateWorkspace(ws string) error { return validateName("workspace", ws) }

func validateName(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return invalid(field, "is required")
	}
	if len(v) > maxIDLen {
		return invalid(field, "is longer than %d bytes", maxIDLen)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return invalid(field, "%q may hold only letters, digits and - _ .", v)
		}
	}
	return nil
}

func typeList() string {
	s := make([]string, len(Types))
	for i, t := range Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Parse decodes one JSON event strictly (unknown fields, trailing data
// and documents over MaxSize are rejected), gives it a new UUID when it has
// no ID, and validates it.
func Parse(data []byte) (Event, error) {
	if len(data) > MaxSize {
		return Event{}, invalid("event", "is larger than %d bytes", MaxSize)
	}
	var e Event
	if err := StrictUnmarshal(data, &e); err != nil {
		return Event{}, err
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// StrictUnmarshal decodes exactly one JSON value into v, rejecting invalid
// UTF-8, duplicate keys, unknown fields and trailing data, with errors
// wrapping ErrInvalid.
func StrictUnmarshal(data []byte, v any) error {
	if !utf8.Valid(data) {
		return invalid("json", "is not valid UTF-8")
	}
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, describeJSONError(err))
	}
	if dec.More() {
		return invalid("json", "unexpected data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("json", "unexpected data after the JSON object")
	}
	return nil
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &FieldError{Field: "json", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		// Drop the Go names of embedded structs ("Config.entity" -> "entity").
		var parts []string
		for _, p := range strings.Split(typ.Field, ".") {
			if p != "" && !(p[0] >= 'A' && p[0] <= 'Z') {
				parts = append(parts, p)
			}
		}
		field := strings.Join(parts, ".")
		if field == "" {
			field = "json"
		}
		return &FieldError{Field: field, Message: fmt.Sprintf("must be %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Field: "json", Message: "malformed JSON: unexpected end of input"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return &FieldError{Field: "json", Message: `unknown field ""`}
		}
		return &FieldError{Field: name, Message: "unknown field"}
	}
	return &FieldError{Field: "json", Message: err.Error()}
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return k
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
