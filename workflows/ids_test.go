package workflows

import "testing"

func TestWorkflowIDIsScopedByWorkspace(t *testing.T) {
	if a, b := WorkflowID("acme", "evt-1"), WorkflowID("globex", "evt-1"); a == b {
		t.Errorf("two workspaces' event evt-1 share workflow ID %q, want different IDs", a)
	}
	for _, tt := range []struct{ ws, id string }{
		{"acme", "evt-1"},
		{"acme", "a:b:c"}, // event IDs may hold ':'
		{"a.b-c_d", "550e8400-e29b-41d4-a716-446655440000"},
	} {
		wid := WorkflowID(tt.ws, tt.id)
		ws, id, ok := ParseWorkflowID(wid)
		if !ok || ws != tt.ws || id != tt.id {
			t.Errorf("ParseWorkflowID(%q): got %q %q %v, want %q %q true", wid, ws, id, ok, tt.ws, tt.id)
		}
	}
	// IDs of the form before workspace scoping ("webhook-event-<id>", whose
	// id may look like "<ws>:<id>") are never read as a scoped ID.
	if got := WorkflowID("acme", "x"); got != "webhook-event:acme:x" {
		t.Errorf("WorkflowID(acme, x): got %q, want webhook-event:acme:x", got)
	}
	for _, wid := range []string{"webhook-registry-acme", "webhook-event-evt-1", "webhook-event-acme:x", "webhook-event:x", "webhook-event::x", "webhook-event:acme:"} {
		if _, _, ok := ParseWorkflowID(wid); ok {
			t.Errorf("ParseWorkflowID(%q): got ok, want refused", wid)
		}
	}
}
