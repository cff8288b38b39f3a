package webhook

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/hari-crm/webhooks/condition"
	"github.com/hari-crm/webhooks/event"
)

// Stages are the stages a record of each entity moves through, in order:
// the sample event's stage changes go from one to the next, and the
// Settings page offers them as condition values.
var Stages = map[string][]string{
	"opportunity": {"Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"},
	"lead":        {"New", "Contacted", "Qualified", "Converted", "Disqualified"},
}

// Statuses are the record statuses of status.changed.
var Statuses = []string{"active", "inactive", "archived"}

// Sample returns the event a Test fire sends for w: the trigger event that
// fits it best (sampleType), its entity, realistic values for that
// entity's selected fields, and, for a modification event, changes that
// satisfy its change conditions, with a plausible previous value (the
// stage before, the other status, another owner). The payload builder
// then keeps what a real delivery keeps (changes of selected fields only).
func Sample(w Webhook, eventID string, now time.Time) event.Event {
	typ := sampleType(w)
	ev := event.Event{
		ID: eventID, Type: typ, Entity: w.Entity, Timestamp: now.UTC().Format(time.RFC3339), Workspace: w.Workspace,
		Record: event.Record{"id": json.RawMessage(`"sample-` + w.Entity + `-0001"`)},
	}
	fields := w.Fields
	if len(fields) == 0 {
		fields = defaultFields(w.Entity)
	}
	for _, f := range fields {
		if f != "id" {
			ev.Record[f] = sampleValue(w.Entity, f, now)
		}
	}
	for _, c := range w.Conditions {
		if c.Op == condition.Equals && len(c.Value) > 0 {
			ev.Record[c.Field] = c.Value
		}
	}
	if !typ.IsModification() {
		return ev
	}
	ev.Changes = map[string]event.Change{}
	for _, c := range w.Conditions {
		switch c.Op {
		case condition.ChangedTo:
			ev.Changes[c.Field] = event.Change{Old: before(w.Entity, c.Field, c.Value, now), New: c.Value}
			ev.Record[c.Field] = c.Value
		case condition.ChangedFrom:
			next := after(w.Entity, c.Field, c.Value, now)
			ev.Changes[c.Field] = event.Change{Old: c.Value, New: next}
			ev.Record[c.Field] = next
		case condition.Changed:
			v := sampleValue(w.Entity, c.Field, now)
			ev.Changes[c.Field] = event.Change{Old: before(w.Entity, c.Field, v, now), New: v}
		}
	}
	if len(ev.Changes) == 0 {
		f := defaultChangeField(typ, fields)
		v := sampleValue(w.Entity, f, now)
		ev.Changes[f] = event.Change{Old: before(w.Entity, f, v, now), New: v}
	}
	return ev
}

// changeEvents are the event types that one field's change triggers.
var changeEvents = map[string]event.Type{"stage": event.StageChanged, "status": event.StatusChanged, "owner": event.AssignmentChanged}

// sampleType is the event type of w's sample: the event its change
// conditions are about (stage.changed for "stage changed to Closed Won"),
// else record.updated for a change condition on another field ("amount
// changed"), else its first event triggered by one field's change (a
// webhook on record.updated and stage.changed is there for stage
// changes), else its first event (record.updated when it has none).
func sampleType(w Webhook) event.Type {
	has := func(t event.Type) bool {
		for _, e := range w.Events {
			if e == t {
				return true
			}
		}
		return false
	}
	otherChange := false
	for _, c := range w.Conditions {
		if c.Op != condition.Changed && c.Op != condition.ChangedTo && c.Op != condition.ChangedFrom {
			continue
		}
		if t, ok := changeEvents[c.Field]; ok && has(t) {
			return t
		}
		otherChange = true
	}
	if otherChange && has(event.RecordUpdated) {
		return event.RecordUpdated
	}
	for _, e := range w.Events {
		if e == event.StageChanged || e == event.StatusChanged || e == event.AssignmentChanged {
			return e
		}
	}
	if len(w.Events) > 0 {
		return w.Events[0]
	}
	return event.RecordUpdated
}

// ChangesNotSent are the fields whose change the sample event carries but
// whose change the payload leaves out, because fields (the selection,
// when not empty) does not name them: the page says so next to the
// preview. Sorted.
func ChangesNotSent(ev event.Event, fields []string) []string {
	if len(fields) == 0 || !ev.Type.IsModification() {
		return nil
	}
	var out []string
	for k := range ev.Changes {
		kept := false
		for _, f := range fields {
			if f == k {
				kept = true
				break
			}
		}
		if !kept {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// defaultFields are the fields a sample record has when the webhook
// sends every field.
func defaultFields(entity string) []string {
	switch entity {
	case "opportunity":
		return []string{"name", "amount", "stage", "owner", "close_date"}
	case "lead":
		return []string{"name", "email", "company", "stage", "owner"}
	case "company", "account":
		return []string{"name", "industry", "owner", "created_at"}
	}
	return []string{"name", "email", "company", "owner", "created_at"}
}

func defaultChangeField(t event.Type, fields []string) string {
	switch t {
	case event.StageChanged:
		return "stage"
	case event.StatusChanged:
		return "status"
	case event.AssignmentChanged:
		return "owner"
	}
	for _, f := range fields {
		if f != "id" {
			return f
		}
	}
	return "name"
}

// sampleValue is a realistic value of a field for a record of entity.
func sampleValue(entity, field string, now time.Time) json.RawMessage {
	f := strings.ToLower(field)
	var v any
	switch {
	case f == "name" || f == "full_name" || f == "title":
		v = map[string]string{"opportunity": "Acme Corp – 200 seats", "lead": "Jordan Lee", "company": "Acme Corp", "account": "Acme Corp"}[entity]
		if v == "" {
			v = "Jane Smith"
		}
	case f == "first_name":
		v = "Jane"
	case f == "last_name":
		v = "Smith"
	case strings.Contains(f, "email"):
		v = map[string]string{"lead": "jordan.lee@example.com", "company": "billing@acme.example", "account": "billing@acme.example", "opportunity": "purchasing@acme.example"}[entity]
		if v == "" {
			v = "jane@example.com"
		}
	case strings.Contains(f, "phone"):
		v = "+1 555 0100"
	case f == "company" || f == "account":
		v = "Acme Corp"
	case f == "industry":
		v = "Manufacturing"
	case f == "website":
		v = "https://acme.example"
	case f == "source":
		v = "Website form"
	case f == "owner" || f == "assignee":
		v = "Vincent"
	case f == "stage":
		v = "Proposal"
		if s := Stages[entity]; len(s) > 2 {
			v = s[len(s)/2-1]
		}
	case f == "status":
		v = Statuses[0]
	case f == "probability":
		v = 60
	case strings.Contains(f, "amount") || strings.Contains(f, "value") || f == "revenue":
		v = 48000
	case f == "currency":
		v = "EUR"
	case strings.HasSuffix(f, "_at") || strings.Contains(f, "date"):
		v = now.UTC().Format(time.RFC3339)
	default:
		v = "sample " + field
	}
	b, _ := json.Marshal(v)
	return b
}

// before is a plausible value of field before it changed to v: the stage
// before it, another status or owner, an earlier amount or date.
func before(entity, field string, v json.RawMessage, now time.Time) json.RawMessage {
	return neighbour(entity, field, v, now, -1)
}

// after is a plausible value of field after it changed from v.
func after(entity, field string, v json.RawMessage, now time.Time) json.RawMessage {
	return neighbour(entity, field, v, now, +1)
}

func neighbour(entity, field string, v json.RawMessage, now time.Time, step int) json.RawMessage {
	f := strings.ToLower(field)
	var s string
	_ = json.Unmarshal(v, &s)
	pick := func(list []string) json.RawMessage {
		i := index(list, s)
		var out string
		switch {
		case i < 0:
			out = list[0]
		case strings.HasPrefix(list[i], "Closed") || list[i] == "Disqualified" || list[i] == "Converted":
			// A closing stage is reached from the last open one.
			out = list[max(0, index(list, closing(list))-1)]
			if step > 0 {
				out = list[0]
			}
		default:
			out = list[(i+step+len(list))%len(list)]
		}
		b, _ := json.Marshal(out)
		return b
	}
	switch {
	case f == "stage" && len(Stages[entity]) > 0:
		return pick(Stages[entity])
	case f == "stage":
		return pick(Stages["opportunity"])
	case f == "status":
		return pick([]string{"inactive", "active"})
	case (f == "name" || f == "title") && entity == "opportunity":
		return pick([]string{"Acme Corp – 150 seats", "Acme Corp – 200 seats"})
	case f == "owner" || f == "assignee":
		return pick([]string{"Vincent", "Maria Garcia"})
	case strings.Contains(f, "amount") || strings.Contains(f, "value") || f == "revenue":
		return json.RawMessage("36000")
	case strings.HasSuffix(f, "_at") || strings.Contains(f, "date"):
		b, _ := json.Marshal(now.UTC().AddDate(0, 0, 7*step).Format(time.RFC3339))
		return b
	}
	if s == "" {
		return json.RawMessage(`null`)
	}
	word := "previous "
	if step > 0 {
		word = "new "
	}
	b, _ := json.Marshal(word + s)
	return b
}

// closing is the first closing stage of a list (Closed Won, Converted).
func closing(list []string) string {
	for _, s := range list {
		if strings.HasPrefix(s, "Closed") || s == "Converted" {
			return s
		}
	}
	return list[len(list)-1]
}

func index(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}
