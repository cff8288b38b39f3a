// Package payload turns an event into the JSON body a receiver gets. It is
// pure: the same event and field selection always give the same bytes.
package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/hari-crm/webhooks/event"
)

// Build returns the webhook body for ev, in the spec's field order: event,
// entity, timestamp, workspace, record, changes. The record holds "id" first
// and then the selected fields in the order given (all fields, id first and
// the rest sorted, when fields is empty); selected fields the record lacks
// are left out. "changes" is present only for modification events and holds
// only changed fields that the selection includes.
func Build(ev event.Event, fields []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	writeJSON(&b, string(ev.Type))
	b.WriteString(`,"entity":`)
	writeJSON(&b, ev.Entity)
	b.WriteString(`,"timestamp":`)
	writeJSON(&b, ev.Timestamp)
	b.WriteString(`,"workspace":`)
	writeJSON(&b, ev.Workspace)
	b.WriteString(`,"record":{"id":`)
	if err := writeValue(&b, ev.Record["id"]); err != nil {
		return nil, fmt.Errorf("record.id: %w", err)
	}
	keys := selected(ev.Record, fields)
	for _, k := range keys {
		b.WriteByte(',')
		writeJSON(&b, k)
		b.WriteByte(':')
		if err := writeValue(&b, ev.Record[k]); err != nil {
			return nil, fmt.Errorf("record.%s: %w", k, err)
		}
	}
	b.WriteByte('}')
	if ev.Type.IsModification() {
		b.WriteString(`,"changes":{`)
		for i, k := range selectedChanges(ev.Changes, fields) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(&b, k)
			b.WriteByte(':')
			c := ev.Changes[k]
			b.WriteString(`{"old":`)
			if err := writeRaw(&b, c.Old); err != nil {
				return nil, fmt.Errorf("changes.%s.old: %w", k, err)
			}
			b.WriteString(`,"new":`)
			if err := writeRaw(&b, c.New); err != nil {
				return nil, fmt.Errorf("changes.%s.new: %w", k, err)
			}
			b.WriteByte('}')
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// selected returns the record keys to emit after "id".
func selected(record event.Record, fields []string) []string {
	var keys []string
	if len(fields) == 0 {
		for k := range record {
			if k != "id" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		return keys
	}
	seen := map[string]bool{"id": true}
	for _, f := range fields {
		if _, ok := record[f]; ok && !seen[f] {
			seen[f] = true
			keys = append(keys, f)
		}
	}
	return keys
}

func selectedChanges(changes map[string]event.Change, fields []string) []string {
	var keys []string
	if len(fields) == 0 {
		for k := range changes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if _, ok := changes[f]; ok && !seen[f] {
			seen[f] = true
			keys = append(keys, f)
		}
	}
	return keys
}

func writeJSON(b *bytes.Buffer, s string) {
	_ = writeValue(b, s) // a string always encodes
}

func writeValue(b *bytes.Buffer, v any) error {
	if raw, ok := v.(json.RawMessage); ok {
		return writeRaw(b, raw)
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode appends a newline
	return nil
}
