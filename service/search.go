package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
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

// CheckSearchAttributes fails unless every search attribute the workflows
// set is registered in the namespace with its type, naming each missing
// one and the command that adds it, and the server accepts them: a query
// naming each is answered. Without them an event workflow's final upsert
// fails its workflow task again and again, and its events stay open
// without an outcome: the worker must not start. A namespace just changed
// may list late (and, on SQL visibility, list at once but be refused in
// starts and queries until the server's namespace cache refreshes, every
// 2 s by default), so it tries again for up to wait.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := checkSearchAttributes(ctx, c, namespace)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkSearchAttributes is one try of CheckSearchAttributes.
func checkSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	if err := missingSearchAttributes(namespace, searchAttributes(), have.GetCustomAttributes()); err != nil {
		return err
	}
	// Listed is not yet usable: the list reads the namespace from the
	// database, starts and queries read it from the server's cache.
	want := searchAttributes()
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name+" = 'ready'")
	}
	sort.Strings(names)
	_, err = c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: strings.Join(names, " AND ")})
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &invalid):
		return fmt.Errorf("search attributes of namespace %s are registered but the server does not accept them in a query yet (its namespace cache refreshes every 2 s by default, system.namespaceCacheRefreshInterval; start the worker again): %w", namespace, err)
	case err != nil:
		return fmt.Errorf("count workflows in namespace %s to check its search attributes: %w", namespace, err)
	}
	return nil
}

// missingSearchAttributes is CheckSearchAttributes' verdict on have.
func missingSearchAttributes(namespace string, want, have map[string]enumspb.IndexedValueType) error {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	var problems, commands []string
	for _, name := range names {
		typ, ok := have[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s (%s) is missing", name, typeName(want[name])))
		case typ != want[name]:
			problems = append(problems, fmt.Sprintf("%s has type %s, want %s", name, typeName(typ), typeName(want[name])))
		default:
			continue
		}
		commands = append(commands, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s", namespace, name, typeName(want[name])))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("search attributes of namespace %s: %s; event workflows could not record their outcome and would stay open. Add them (a store that allows no more of a type needs one freed first) with: %s",
		namespace, strings.Join(problems, ", "), strings.Join(commands, "; "))
}

// typeName is a search attribute type as the temporal CLI names it
// (KeywordList, Keyword, ...).
func typeName(t enumspb.IndexedValueType) string {
	switch t {
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD:
		return "Keyword"
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST:
		return "KeywordList"
	case enumspb.INDEXED_VALUE_TYPE_TEXT:
		return "Text"
	case enumspb.INDEXED_VALUE_TYPE_INT:
		return "Int"
	case enumspb.INDEXED_VALUE_TYPE_DOUBLE:
		return "Double"
	case enumspb.INDEXED_VALUE_TYPE_BOOL:
		return "Bool"
	case enumspb.INDEXED_VALUE_TYPE_DATETIME:
		return "Datetime"
	}
	return t.String()
}

// CLISearchAttributes is every search attribute the workflows set as the
// temporal CLI's dev server takes it (--search-attribute NAME=TYPE), sorted
// by name: a dev server started with them has them from its namespace's
// creation, before any worker runs, so nothing waits for the server's
// search-attribute cache to see them.
func CLISearchAttributes() []string {
	var out []string
	for name, typ := range searchAttributes() {
		out = append(out, name+"="+typeName(typ))
	}
	sort.Strings(out)
	return out
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
