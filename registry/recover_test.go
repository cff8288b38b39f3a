package registry

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// Only errors that an ended registry causes lead to a recovery; the
// registry's own refusals (validation, not found) never do.
func TestRefusedByEnded(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"update to a closed run", serviceerror.NewNotFound("workflow execution already completed"), true},
		{"start refused by the reuse policy", serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run"), true},
		{"update-with-start refused", fmt.Errorf("create: %w", serviceerror.NewMultiOperationExecution("failed", []error{serviceerror.NewWorkflowExecutionAlreadyStarted("x", "", "r")})), true},
		{"validator refusal", temporal.NewApplicationError("name: taken", "WebhookNameTaken"), false},
		{"unknown webhook", temporal.NewApplicationError("webhook wh_x not found", "WebhookNotFound"), false},
		{"network", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		if got := refusedByEnded(tt.err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
