package workflows

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
)

// An event workflow continues as new before its history grows near
// Temporal's limits (51,200 events, 50 MB; the server terminates a
// workflow that reaches either, and its deliveries with it). Only a
// delivery waiting for a workspace slot makes history grow round after
// round; at a round boundary it parks instead (its attempts, when it began
// waiting and its next round), in-flight activities finish, and the next
// run starts from the parked and finished deliveries (Continuation).
var (
	// maxRunEvents and maxRunBytes bound one run's history. The run parks
	// its deliveries when the server's count or size, or the workflow's
	// own upper estimate of them, reaches a bound, or when the server
	// suggests continue-as-new. Variables so tests can lower them.
	maxRunEvents = 10_000
	maxRunBytes  = 10 << 20
	// maxInputBytes is Temporal's limit on a workflow input, the
	// continue-as-new input included: the server ends a workflow whose
	// continue-as-new it refuses, and every delivery with it. A variable
	// so tests can lower it.
	maxInputBytes = 2 << 20
)

// codecMargin is what the payload around the input's JSON adds: the
// codec's encryption (key ID, nonce, tag) and the payload's metadata.
const codecMargin = 16 << 10

// versionContinueAsNew is the workflow.GetVersion change ID of parking
// deliveries and continuing as new. Runs recorded before it (no marker)
// never park, so their histories replay as recorded.
const versionContinueAsNew = "continue-as-new-when-history-grows"

// Continuation is what a run carries to the next when it continues as new:
// every delivery as it stands, in the order of the targets.
type Continuation struct {
	// Run is the number of the run that carried it (1 for the first).
	Run        int               `json:"run"`
	Deliveries []CarriedDelivery `json:"deliveries"`
}

// CarriedDelivery is a delivery's result so far and, for a delivery that
// was waiting for a slot, where its waiting stands.
type CarriedDelivery struct {
	DeliveryResult
	// URL shadows DeliveryResult.URL in JSON: a carried delivery leaves
	// its URL out (up to 4 KiB, and the input repeats it in its target);
	// the next run sets it from the target. Continuations recorded before
	// carry it here, and it is not used.
	URL  string `json:"url,omitempty"`
	Wait *Wait  `json:"wait,omitempty"`
}

// Wait is where a delivery waiting for a workspace slot stands.
type Wait struct {
	// Since is when the delivery began waiting; maxBusyWait counts from it
	// across runs.
	Since time.Time `json:"since"`
	// NextRound is the round of waiting it resumes with (1 or more).
	NextRound int `json:"next_round"`
	// Queued is the delivery's place in its workspace's queue for a slot
	// (activities.DeliverInput.WaitingSince), kept across runs.
	Queued time.Time `json:"queued,omitempty"`
	// Held: its last round ran out among the oldest waiters, and the
	// limiter keeps its place; it comes back after the short timer.
	Held bool `json:"held,omitempty"`
}

// validate checks that a continuation matches the input's targets.
func (c *Continuation) validate(dests []destination) error {
	if len(c.Deliveries) != len(dests) {
		return fmt.Errorf("continuation: %d deliveries for %d targets", len(c.Deliveries), len(dests))
	}
	for i, d := range c.Deliveries {
		if d.WebhookID != dests[i].ID {
			return fmt.Errorf("continuation: delivery %d is for webhook %q, target %d is %q", i, d.WebhookID, i, dests[i].ID)
		}
		if d.Wait != nil && (d.Status != StatusPending || d.Wait.NextRound < 1) {
			return fmt.Errorf("continuation: delivery %q waits with status %s and next round %d", d.WebhookID, d.Status, d.Wait.NextRound)
		}
	}
	return nil
}

// carryBudget is how many bytes of JSON the continuation of in may take:
// the input limit less the event, its targets and its routed targets (the
// next run's input repeats them) and the codec's margin.
func carryBudget(in EventInput) (int, error) {
	in.Continued = nil
	b, err := json.Marshal(in)
	if err != nil {
		return 0, fmt.Errorf("encode input: %w", err)
	}
	return maxInputBytes - codecMargin - len(b) - len(`,"continued":`), nil
}

// carry builds the continuation of a run: the deliveries with their waits,
// response excerpts shortened (and, last, the attempts' kept headers left
// out) until the whole fits budget bytes of JSON.
// A delivery's URL is left out (the next run takes it from its target).
func carry(run int, res []DeliveryResult, waits []*Wait, budget int) (*Continuation, error) {
	c := &Continuation{Run: run, Deliveries: make([]CarriedDelivery, len(res))}
	for i, d := range res {
		d.Attempts = append([]delivery.Attempt(nil), d.Attempts...)
		d.URL = ""
		c.Deliveries[i] = CarriedDelivery{DeliveryResult: d, Wait: waits[i]}
	}
	// keep -1: no excerpts, and the attempts' kept request and response
	// headers go too (up to 2 KiB each per attempt).
	for _, keep := range []int{delivery.LoggedBodyLen, 512, 128, 0, -1} {
		for i := range c.Deliveries {
			for j := range c.Deliveries[i].Attempts {
				at := &c.Deliveries[i].Attempts[j]
				at.ResponseBody = cutUTF8(at.ResponseBody, max(keep, 0))
				if keep < 0 {
					at.RequestHeaders, at.ResponseHeaders = nil, nil
				}
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode continuation: %w", err)
		}
		if len(b) <= budget {
			return c, nil
		}
	}
	return nil, fmt.Errorf("the deliveries' state is above the %d bytes the event and its targets leave of Temporal's %d-byte input limit, even without response excerpts and headers", max(budget, 0), maxInputBytes)
}

// cutUTF8 shortens s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// runState is what a run's deliveries share: the upper estimate of the
// run's history and whether the run is draining towards continue-as-new.
type runState struct {
	events, bytes int
	draining      bool
}

// Upper estimates of the history one step adds, counting a workflow task
// (3 events) for every wake-up although the server often batches them,
// and eventOverhead bytes per event besides its payloads.
const (
	eventOverhead        = 300
	eventsPerActivity    = 3 + 3 // scheduled, started, closed; a workflow task
	eventsPerTimer       = 2 + 3 // started, fired; a workflow task
	eventsPerLocalResult = 1 + 3 // the marker; a workflow task
)

func newRunState(in EventInput) *runState {
	rs := &runState{events: 4, bytes: 4 * eventOverhead}
	if b, err := json.Marshal(in); err == nil {
		rs.bytes += len(b)
	}
	return rs
}

func (rs *runState) countTimer() {
	rs.events += eventsPerTimer
	rs.bytes += eventsPerTimer * eventOverhead
}

func (rs *runState) countLocalActivity() {
	rs.events += eventsPerLocalResult
	rs.bytes += eventsPerLocalResult*eventOverhead + 4*delivery.LoggedBodyLen
}

// countActivity counts a DeliverWebhook activity with input in: the input
// (scheduled event) and once more its attempt log (the result, or the
// last failure a retried activity's started event repeats).
func (rs *runState) countActivity(in activities.DeliverInput) {
	rs.events += eventsPerActivity
	rs.bytes += eventsPerActivity * eventOverhead
	if b, err := json.Marshal(in); err == nil {
		rs.bytes += len(b)
	}
	if b, err := json.Marshal(in.PriorAttempts); err == nil {
		rs.bytes += len(b)
	}
}

// countFailureLog adds what a failed activity's details hold: the log, when
// the activity made attempts (a failure that made none carries no log).
func (rs *runState) countFailureLog(log []delivery.Attempt) {
	if b, err := json.Marshal(log); err == nil {
		rs.bytes += len(b)
	}
}

// mustPark reports whether deliveries must stop starting rounds and park:
// once true it stays true for the run. Runs recorded before this rule
// (workflow.GetVersion finds no marker) never park.
func (rs *runState) mustPark(ctx workflow.Context) bool {
	if rs.draining {
		return true
	}
	info := workflow.GetInfo(ctx)
	full := info.GetContinueAsNewSuggested() ||
		max(info.GetCurrentHistoryLength(), rs.events) >= maxRunEvents ||
		max(info.GetCurrentHistorySize(), rs.bytes) >= maxRunBytes
	if !full {
		return false
	}
	if workflow.GetVersion(ctx, versionContinueAsNew, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	workflow.GetLogger(ctx).Info("history is growing: deliveries waiting for a slot park, then the workflow continues as new",
		"history_events", info.GetCurrentHistoryLength(), "history_bytes", info.GetCurrentHistorySize(),
		"estimated_events", rs.events, "estimated_bytes", rs.bytes)
	rs.draining = true
	return true
}
