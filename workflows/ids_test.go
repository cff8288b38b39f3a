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
	for _, wid := range []string{"webhook-registry-acme", "webhook-event-evt-1", "webhook-event-:x", "webhook-event-acme:"} {
		if _, _, ok := ParseWorkflowID(wid); ok {
			t.Errorf("ParseWorkflowID(%q): got ok, want refused", wid)
		}
	}
}
