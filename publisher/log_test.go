package publisher

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/workflows"
)

// Each field of a log query is checked against its range, and the error
// names the field; a query that passes becomes fixed visibility text.
func TestLogQueryCheckNamesTheField(t *testing.T) {
	at := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		q     LogQuery
		field string
	}{
		{"ok", LogQuery{PageSize: 10, Status: "failed", EventType: event.StageChanged, Since: at, Until: at.Add(time.Hour)}, ""},
		{"status", LogQuery{PageSize: 10, Status: "lost"}, "status"},
		{"status with a quote", LogQuery{PageSize: 10, Status: "failed' OR '1'='1"}, "status"},
		{"event type", LogQuery{PageSize: 10, EventType: "record.made"}, "event_type"},
		{"until before since", LogQuery{PageSize: 10, Since: at, Until: at.Add(-time.Second)}, "until"},
		{"until equal to since", LogQuery{PageSize: 10, Since: at, Until: at}, "until"},
		{"page size 0", LogQuery{}, "page_size"},
		{"page size 101", LogQuery{PageSize: 101}, "page_size"},
	} {
		err := tc.q.Check()
		var qe *QueryError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: got %v, want no error", tc.name, err)
		case tc.field != "" && (!errors.As(err, &qe) || qe.Field != tc.field || !errors.Is(err, event.ErrInvalid)):
			t.Errorf("%s: got %v, want an invalid-input error naming %s", tc.name, err, tc.field)
		}
	}
}

func TestLogQueryFilter(t *testing.T) {
	at := time.Date(2026, 3, 31, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		q    LogQuery
		want string
	}{
		{LogQuery{}, ""},
		{LogQuery{Status: "delivered"}, " AND HariDeliveryStatus IN ('delivered', 'partial', 'pending', 'routing')"},
		{LogQuery{Status: "failed"}, " AND HariDeliveryStatus IN ('failed', 'partial', 'pending', 'routing')"},
		{LogQuery{Status: "pending"}, " AND HariDeliveryStatus IN ('pending', 'routing')"},
		{LogQuery{Status: "skipped"}, " AND (HariDeliveryStatus = 'skipped' OR HariSkippedKeys = '" + workflows.WebhookKey("wh-1") + "')"},
		{LogQuery{EventType: event.RecordUpdated, Since: at, Until: at.Add(time.Hour)},
			" AND HariEventType = 'record.updated' AND StartTime >= '2026-03-31T08:00:00Z' AND StartTime < '2026-03-31T09:00:00Z'"},
	} {
		if got := tc.q.filter("wh-1"); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.q, got, tc.want)
		}
		if strings.Count(tc.q.filter("wh-1"), "'")%2 != 0 {
			t.Errorf("%+v: unbalanced quotes", tc.q)
		}
	}
}
