package service

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hari-crm/webhooks/workflows"
)

// EnsureSearchAttributes registers the event workflows' search attributes
// in the namespace, adding only those that are missing.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	want := searchAttributes()
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// searchAttributes is every search attribute the workflows set, by name
// (deploy/create-namespace.sh lists the same).
func searchAttributes() map[string]enumspb.IndexedValueType {
	want := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKey{workflows.SearchWorkspace, workflows.SearchWebhookIDs, workflows.SearchEventType, workflows.SearchStatus, workflows.SearchWebhookKeys, workflows.SearchSkippedKeys, workflows.SearchRedeliveryOf} {
		want[k.GetName()] = k.GetValueType()
	}
	return want
}
