package publisher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// Disabler reads and disables a webhook (registry.Client).
type Disabler interface {
	Get(ctx context.Context, ws, id string) (webhook.View, error)
	Disable(ctx context.Context, ws, id, reason string, failingSince time.Time) (webhook.View, error)
}

// MaxDisableWindow caps how far back one AutoDisable run lists failed
// events (a worker that could not run for long does not list days of
// events at once; an endpoint still failing fails again within it).
const MaxDisableWindow = time.Hour

// maxCutReads bounds the results one AutoDisable run reads of events with
// more webhooks than HariWebhookIDs lists.
const maxCutReads = 100

// DisableRule is when a webhook is disabled automatically: After
// consecutive failed deliveries spanning at least Span.
type DisableRule struct {
	After int
	Span  time.Duration
	// Workspace, when set, limits a sweep to one workspace's events
	// (an operator checking one tenant; tests that share a task queue).
	Workspace string
}

// DefaultDisableRule is 50 failed deliveries in a row over 3 days.
var DefaultDisableRule = DisableRule{After: 50, Span: 72 * time.Hour}

// Met reports whether health h meets the rule at now: After failures in
// a row, the first at least Span before now.
func (r DisableRule) Met(h Health, now time.Time) bool {
	return h.ConsecutiveFailures >= r.After && h.FailingSince != nil && now.Sub(*h.FailingSince) >= r.Span
}

// WebhookRef names one webhook.
type WebhookRef struct {
	Workspace string `json:"workspace"`
	ID        string `json:"id"`
}

// Unread is what one AutoDisable run could not read: the webhooks whose
// health and the events whose result failed to read. The next run reads
// them again, whatever its since.
type Unread struct {
	Webhooks []WebhookRef
	Events   []string // event workflow IDs
}

// DisableRun is one AutoDisable run's outcome.
type DisableRun struct {
	Disabled []Disabled
	// Unread is to be passed to the next run; Err says why each part of
	// it could not be read (nil when nothing failed).
	Unread Unread
	Err    error
}

// Disabled is one webhook AutoDisable disabled.
type Disabled struct {
	Workspace string `json:"workspace"`
	WebhookID string `json:"webhook_id"`
	Reason    string `json:"reason"`
}

// AutoDisable disables every active webhook whose recent failures meet
// rule: it lists the events that failed (or partly failed) since since,
// reads the health of each webhook they went to (from HariWebhookIDs, and
// for an event with more webhooks than that lists, the failed ones of its
// result), and disables those with
// rule.After failures in a row, the oldest at least rule.Span ago. It
// reads only active webhooks, goes on past one whose health (or event
// whose result) cannot be read, returning it in the run's Unread with the
// reasons joined in its Err, and looks back at most MaxDisableWindow. It
// reads again the webhooks and events of again (the previous run's
// Unread). Its error is for the listing only: since has not been covered
// and the next run must start from it again. The worker runs it every
// HARI_DISABLE_EVERY, with since the previous listed run (less a margin):
// nothing is written per delivery.
func (p *Publisher) AutoDisable(ctx context.Context, d Disabler, rule DisableRule, since time.Time, again Unread) (DisableRun, error) {
	if rule.After < 1 {
		return DisableRun{}, fmt.Errorf("auto-disable: after must be at least 1, got %d", rule.After)
	}
	if floor := time.Now().Add(-MaxDisableWindow); since.Before(floor) {
		since = floor
	}
	// This deployment's events only (its task queue): another deployment
	// in the namespace has its own registries and rule.
	query := fmt.Sprintf("WorkflowType = '%s' AND TaskQueue = '%s' AND %s IN ('%s', '%s') AND CloseTime >= '%s'",
		workflows.EventWorkflowName, strings.ReplaceAll(p.taskQueue, "'", ""), workflows.SearchStatus.GetName(), workflows.StatusFailed, workflows.StatusPartial, since.UTC().Format(time.RFC3339Nano))
	if rule.Workspace != "" {
		if err := event.ValidateWorkspace(rule.Workspace); err != nil {
			return DisableRun{}, fmt.Errorf("auto-disable: %w", err)
		}
		query += fmt.Sprintf(" AND %s = '%s'", workflows.SearchWorkspace.GetName(), rule.Workspace)
	}
	type ref struct{ ws, id string }
	seen := map[ref]bool{}
	var errs []error
	var run DisableRun
	cutReads := 0
	readFailed := func(ws, workflowID string) {
		cutReads++
		failed, err := p.failedWebhooks(ctx, workflowID)
		if err != nil {
			errs = append(errs, err)
			run.Unread.Events = append(run.Unread.Events, workflowID)
			return // the others are still checked
		}
		for _, id := range failed {
			seen[ref{ws, id}] = true
		}
	}
	for _, r := range again.Webhooks {
		seen[ref{r.Workspace, r.ID}] = true
	}
	for _, wid := range again.Events {
		if ws, _, ok := workflows.ParseWorkflowID(wid); ok && cutReads < maxCutReads {
			readFailed(ws, wid)
		}
	}
	var token []byte
	dc := converter.GetDefaultDataConverter() // search attributes are never encrypted
	for {
		resp, err := p.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 500, NextPageToken: token})
		if err != nil {
			return DisableRun{}, fmt.Errorf("list failed events: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			fields := ex.GetSearchAttributes().GetIndexedFields()
			var ws string
			var ids []string
			if v := fields[workflows.SearchWorkspace.GetName()]; v == nil || dc.FromPayload(v, &ws) != nil {
				continue
			}
			if v := fields[workflows.SearchWebhookIDs.GetName()]; v == nil || dc.FromPayload(v, &ids) != nil {
				continue
			}
			for _, id := range ids {
				seen[ref{ws, id}] = true
			}
			// HariWebhookIDs holds only the first IDs that fit (about 81);
			// when it lists fewer webhooks than HariWebhookKeys, the
			// event's result names the others that failed (at most
			// maxCutReads events a run: a webhook that keeps failing is
			// in the first of them too).
			var keys []string
			if v := fields[workflows.SearchWebhookKeys.GetName()]; v != nil && dc.FromPayload(v, &keys) == nil && len(keys) > len(ids) && cutReads < maxCutReads {
				readFailed(ws, ex.GetExecution().GetWorkflowId())
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	refs := make([]ref, 0, len(seen))
	for r := range seen {
		refs = append(refs, r)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].ws+"\x00"+refs[i].id < refs[j].ws+"\x00"+refs[j].id })
	for i, r := range refs {
		if ctx.Err() != nil {
			for _, r := range refs[i:] {
				run.Unread.Webhooks = append(run.Unread.Webhooks, WebhookRef{r.ws, r.id})
			}
			run.Err = errors.Join(append(errs, ctx.Err())...)
			return run, nil
		}
		// Only active webhooks: an inactive or disabled one is not read
		// again (deleted meanwhile: nothing to do).
		v, err := d.Get(ctx, r.ws, r.id)
		if err != nil || v.State != webhook.StateActive {
			continue
		}
		h, err := p.Health(ctx, r.ws, r.id)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook %s/%s: %w", r.ws, r.id, err))
			run.Unread.Webhooks = append(run.Unread.Webhooks, WebhookRef{r.ws, r.id})
			continue // the others are still checked
		}
		if !rule.Met(h, time.Now()) {
			continue
		}
		reason := fmt.Sprintf("%d deliveries failed in a row since %s; the last: %s", h.ConsecutiveFailures, h.FailingSince.UTC().Format(time.RFC3339), h.LastError)
		reason = webhook.CutReason(reason)
		// The streak's start goes with it: the registry leaves a webhook
		// re-enabled since alone (this health was read before that).
		v, err = d.Disable(ctx, r.ws, r.id, reason, *h.FailingSince)
		if err != nil {
			continue // deleted meanwhile, or a registry that ended: the next run tries again
		}
		if v.State == webhook.StateDisabled && v.DisabledReason == reason {
			run.Disabled = append(run.Disabled, Disabled{Workspace: r.ws, WebhookID: r.id, Reason: reason})
		}
	}
	run.Err = errors.Join(errs...)
	return run, nil
}

// failedWebhooks lists the webhooks whose delivery failed in finished
// event workflow workflowID.
func (p *Publisher) failedWebhooks(ctx context.Context, workflowID string) ([]string, error) {
	var res workflows.EventResult
	if err := p.c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return nil, fmt.Errorf("read the outcome of %s: %w", workflowID, err)
	}
	var ids []string
	for _, d := range res.Deliveries {
		if d.Status == workflows.StatusFailed {
			ids = append(ids, d.WebhookID)
		}
	}
	return ids, nil
}
