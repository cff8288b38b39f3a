package workflows

import "strings"

// WorkflowID is the ID of an event's workflow:
// "webhook-event:<workspace>:<event id>". It is deterministic, so a second
// publish of the same event ID in the same workspace is refused as a
// duplicate; and it is scoped by workspace, so one workspace cannot claim
// another's event IDs. Workspace names hold no ':', so the first ':' after
// the prefix ends the workspace (event IDs may hold ':'). The prefix is
// disjoint from the IDs before workspace scoping ("webhook-event-<id>"),
// so an old workflow whose event ID was "B:x" is never taken for
// workspace B's event x.
func WorkflowID(workspace, eventID string) string {
	return workflowIDPrefix + workspace + ":" + eventID
}

// ParseWorkflowID splits an event workflow's ID into its workspace and
// event ID; ok is false for any other ID.
func ParseWorkflowID(id string) (workspace, eventID string, ok bool) {
	rest, ok := strings.CutPrefix(id, workflowIDPrefix)
	if !ok {
		return "", "", false
	}
	workspace, eventID, ok = strings.Cut(rest, ":")
	if !ok || workspace == "" || eventID == "" {
		return "", "", false
	}
	return workspace, eventID, true
}
