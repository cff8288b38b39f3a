package devtest

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/workflows"
)

// StartWithEverySearchAttribute starts a workflow that sets every search
// attribute the workflows set (on a task queue no worker polls), then
// terminates it: the error is the server's answer to the start, such as
// "Namespace ... has no mapping defined for search attribute ...".
func StartWithEverySearchAttribute(ctx context.Context, c client.Client) error {
	attrs := temporal.NewSearchAttributes(
		workflows.SearchWorkspace.ValueSet("ws"),
		workflows.SearchWebhookIDs.ValueSet([]string{"wh_1"}),
		workflows.SearchEventType.ValueSet("opportunity.stage_changed"),
		workflows.SearchStatus.ValueSet(workflows.StatusPending),
		workflows.SearchWebhookKeys.ValueSet([]string{"k1"}),
		workflows.SearchSkippedKeys.ValueSet([]string{"k1"}),
		workflows.SearchRedeliveryOf.ValueSet("r"),
	)
	if n := len(service.CLISearchAttributes()); attrs.Size() != n {
		return fmt.Errorf("StartWithEverySearchAttribute sets %d search attributes, the workflows set %d: add the new one", attrs.Size(), n)
	}
	id := "every-search-attribute-" + uuid.NewString()[:8]
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "no-worker-" + id, TypedSearchAttributes: attrs}, "AnyWorkflow"); err != nil {
		return err
	}
	return c.TerminateWorkflow(ctx, id, "", "search attributes checked")
}
