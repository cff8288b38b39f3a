package activities

import (
	"container/list"
	"sync"
	"time"
)

// bodyCache keeps the bodies of deliveries that FirstAttempt handed on to
// DeliverWebhook (limited, or a retryable failure), so that DeliverWebhook
// on the same worker need not ask the workflow for them: the body query
// costs milliseconds when a workflow-task poller is free, but up to the
// sticky queue's 5 s schedule-to-start timeout when none is. A miss (an
// evicted entry, another worker, a continued run) falls back to the query.
// Bounded in bytes and in age; least recently used entries go first.
type bodyCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	size    int
	order   *list.List // front: most recently used
	entries map[string]*list.Element
	now     func() time.Time
}

type bodyEntry struct {
	key  string
	body []byte
	at   time.Time
}

func newBodyCache(maxBytes int, ttl time.Duration) *bodyCache {
	return &bodyCache{max: maxBytes, ttl: ttl, order: list.New(), entries: map[string]*list.Element{}, now: time.Now}
}

func bodyKey(runID, deliveryID string) string { return runID + "/" + deliveryID }

func (c *bodyCache) put(key string, body []byte) {
	if len(body) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	c.entries[key] = c.order.PushFront(&bodyEntry{key: key, body: body, at: c.now()})
	c.size += len(body)
	for c.size > c.max {
		c.remove(c.order.Back())
	}
}

func (c *bodyCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*bodyEntry)
	if c.now().Sub(e.at) > c.ttl {
		c.remove(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.body, true
}

func (c *bodyCache) remove(el *list.Element) {
	e := c.order.Remove(el).(*bodyEntry)
	delete(c.entries, e.key)
	c.size -= len(e.body)
}
