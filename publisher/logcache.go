package publisher

import (
	"sync"

	"github.com/hari-crm/webhooks/workflows"
)

// maxEndedEntries bounds the ended deliveries the log keeps (a few KiB
// each at most: attempts with their kept response excerpts and headers).
const maxEndedEntries = 500

// endedKey names one webhook's delivery in one run of an event workflow.
type endedKey struct{ workflowID, runID, webhookID string }

type endedEntry struct {
	delivery workflows.DeliveryResult
	found    bool
}

// endedCache keeps the outcomes of deliveries whose workflow run ended:
// they cannot change, so a log refresh need not ask Temporal again. It
// forgets the oldest first beyond maxEndedEntries.
type endedCache struct {
	mu    sync.Mutex
	by    map[endedKey]endedEntry
	order []endedKey
}

func newEndedCache() *endedCache { return &endedCache{by: map[endedKey]endedEntry{}} }

// get returns the kept delivery (found false: the run has no delivery to
// the webhook) and whether one was kept. A nil cache keeps nothing.
func (c *endedCache) get(k endedKey) (workflows.DeliveryResult, bool, bool) {
	if c == nil {
		return workflows.DeliveryResult{}, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.by[k]
	return e.delivery, e.found, ok
}

func (c *endedCache) put(k endedKey, d workflows.DeliveryResult, found bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.by[k]; ok {
		return
	}
	if len(c.order) >= maxEndedEntries {
		delete(c.by, c.order[0])
		c.order = c.order[1:]
	}
	c.by[k] = endedEntry{delivery: d, found: found}
	c.order = append(c.order, k)
}
