package webhook

import "github.com/hari-crm/webhooks/event"

// EventInfo is an event type in words, for the Settings page.
type EventInfo struct {
	Type        event.Type `json:"type"`
	Label       string     `json:"label"`
	Description string     `json:"description"`
}

// Events describes every event type, in the spec's order.
var Events = []EventInfo{
	{event.RecordCreated, "Record created", "a new record was created"},
	{event.RecordUpdated, "Record updated", "a field of a record changed"},
	{event.RecordDeleted, "Record deleted", "a record was deleted"},
	{event.StageChanged, "Stage changed", "an opportunity or lead moved to another stage"},
	{event.StatusChanged, "Status changed", "a record became active, inactive or archived"},
	{event.AssignmentChanged, "Owner changed", "a record was assigned to another owner"},
}

// KnownFields are the usual fields of each entity's records, offered by
// the Settings page's field picker and condition builder (a webhook may
// name other fields too).
var KnownFields = map[string][]string{
	"opportunity": {"name", "amount", "currency", "stage", "probability", "close_date", "owner", "company", "created_at", "updated_at"},
	"lead":        {"name", "email", "phone", "company", "stage", "status", "source", "owner", "created_at"},
	"contact":     {"name", "first_name", "last_name", "email", "phone", "company", "status", "owner", "created_at"},
	"company":     {"name", "industry", "website", "phone", "status", "owner", "created_at"},
	"account":     {"name", "industry", "website", "status", "owner", "created_at"},
}

// Catalog is what the Settings page's guided builder offers: entities,
// event types in words, fields per entity, and the values of stages and
// statuses.
type Catalog struct {
	Entities []string            `json:"entities"`
	Events   []EventInfo         `json:"events"`
	Fields   map[string][]string `json:"fields"`
	Stages   map[string][]string `json:"stages"`
	Statuses []string            `json:"statuses"`
}

// TheCatalog returns the catalog.
func TheCatalog() Catalog {
	return Catalog{Entities: Entities, Events: Events, Fields: KnownFields, Stages: Stages, Statuses: Statuses}
}
