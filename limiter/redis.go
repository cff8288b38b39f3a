package limiter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLease is how long a slot is held at most without being released:
// the 15 s attempt plus a margin. A worker killed while holding slots gives
// them back by lease expiry within this time.
const DefaultLease = 20 * time.Second

// acquireScript takes a slot for a caller, oldest waiter first, on the
// Redis server's clock (ms). KEYS: the workspace's leases (lease -> expiry),
// its waiting tickets (ticket -> since) and their presence (ticket -> the
// time the ticket goes stale unless its waiter refreshes it). ARGV: limit,
// lease ms, lease id, ticket (” for a caller that does not wait), since
// ms, presence ms.
//
// Expired leases (a dead worker's) and stale tickets (a waiter that left
// or died) are dropped first. A waiting caller's ticket is added or
// refreshed; it gets a slot when fewer present tickets are older than it
// than there are free slots. A caller without a ticket is behind every
// present waiter.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, lease, presence = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, stale in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[2], stale)
  redis.call('ZREM', KEYS[3], stale)
end
local ticket = ARGV[4]
local ahead
if ticket == '' then
  ahead = redis.call('ZCARD', KEYS[2])
else
  redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), ticket)
  redis.call('ZADD', KEYS[3], now + presence, ticket)
  for i = 2, 3 do
    if redis.call('PTTL', KEYS[i]) < presence * 2 then redis.call('PEXPIRE', KEYS[i], presence * 2) end
  end
  ahead = redis.call('ZRANK', KEYS[2], ticket)
end
if limit - redis.call('ZCARD', KEYS[1]) > ahead then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
  if ticket ~= '' then
    redis.call('ZREM', KEYS[2], ticket)
    redis.call('ZREM', KEYS[3], ticket)
  end
  return 1
end
return 0
`)

// holdScript keeps a ticket's place for a waiter that will come back (its
// hold, ms, on the server's clock). KEYS: the waiting tickets and their
// presence; ARGV: ticket, since ms, hold ms. Nobody is woken: no slot was
// freed.
var holdScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
redis.call('ZADD', KEYS[2], now + hold, ARGV[1])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < hold * 2 then redis.call('PEXPIRE', KEYS[i], hold * 2) end
end
return 1
`)

// releaseScript frees a lease and wakes waiters on the workspace's channel.
var releaseScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', KEYS[2], '1')
end
return 1
`)

// leaveScript withdraws a ticket whose waiter gave up, and wakes the
// others: a younger waiter may now be first in line for a free slot.
var leaveScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('PUBLISH', KEYS[4], '1')
end
return 1
`)

// Redis is a per-workspace limiter shared by every worker through Redis:
// each slot is a lease with an expiry in a sorted set. Callers that wait
// hold a ticket in a second sorted set, ordered by when their delivery
// began to wait, so a freed slot goes to the oldest waiter of the whole
// deployment. A waiter is present while it refreshes its ticket (at least
// every PollInterval); a ticket not refreshed for three intervals is
// dropped, so a dead worker's waiters hold nobody back for long. A ticket
// whose round of waiting ran out stays for its Hold instead: its delivery
// is between two rounds, and keeps its place across the deployment. Waiters
// are woken by a pub/sub message when a slot is released, and re-check at
// least every PollInterval (for slots that come back by expiry).
type Redis struct {
	rdb    *redis.Client
	limit  int
	lease  time.Duration
	prefix string
	// PollInterval bounds how long a waiter sleeps without a wake-up.
	PollInterval time.Duration

	mu   sync.Mutex
	subs map[string]*wakeup
}

// wakeup is one workspace's subscription, shared by the waiters of this
// process. Each release message wakes one waiter, the oldest: a freed slot
// is taken up at once, without a stampede of every waiter.
type wakeup struct {
	queue  []*redisWaiter // oldest first
	cancel context.CancelFunc
}

type redisWaiter struct {
	t  Ticket
	ch chan struct{}
}

// NewRedis returns a shared limiter; lease 0 means DefaultLease.
func NewRedis(rdb *redis.Client, limit int, lease time.Duration) *Redis {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	return &Redis{rdb: rdb, limit: limit, lease: lease, prefix: "hari:inflight:", PollInterval: time.Second, subs: map[string]*wakeup{}}
}

// keys are the workspace's leases, waiting tickets, ticket presence and
// release channel; one hash tag keeps them on one cluster slot.
func (r *Redis) keys(ws string) []string {
	base := r.prefix + "{" + ws + "}"
	return []string{base, base + ":queue", base + ":seen", base + ":free"}
}

func (r *Redis) presence() time.Duration { return 3 * r.PollInterval }

// InFlight returns the number of live leases of a workspace.
func (r *Redis) InFlight(ctx context.Context, ws string) (int, error) {
	key := r.keys(ws)[0]
	now, err := r.rdb.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	n, err := r.rdb.ZCount(ctx, key, fmt.Sprint(now.UnixMilli()), "+inf").Result()
	return int(n), err
}

// TryAcquire takes a slot if one is free now beyond those the present
// waiters of the deployment are owed: a caller that does not wait never
// overtakes one that does.
func (r *Redis) TryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	r.mu.Lock()
	w := r.subs[ws]
	queued := w != nil && len(w.queue) > 0
	r.mu.Unlock()
	if queued { // a waiter of this process is ahead; no need to ask Redis
		return nil, false, nil
	}
	return r.tryAcquire(ctx, ws, nil)
}

func (r *Redis) tryAcquire(ctx context.Context, ws string, t *Ticket) (func(), bool, error) {
	keys := r.keys(ws)
	id := newLeaseID()
	ticket, since := "", int64(0)
	if t != nil {
		ticket, since = t.ID, t.Since.UnixMilli()
	}
	got, err := acquireScript.Run(ctx, r.rdb, keys[:3], r.limit, r.lease.Milliseconds(), id, ticket, since, r.presence().Milliseconds()).Int()
	if err != nil {
		// The script may have run before the error (a deadline on the way
		// back): give the lease back rather than leave it until it expires.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = releaseScript.Run(rctx, r.rdb, []string{keys[0], keys[3]}, id).Err()
		cancel()
		return nil, false, fmt.Errorf("acquire a slot of workspace %s: %w", ws, err)
	}
	if got != 1 {
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Release with a fresh context: the caller's may be done.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = releaseScript.Run(ctx, r.rdb, []string{keys[0], keys[3]}, id).Err()
		})
	}, true, nil
}

// Acquire waits for a slot until ctx ends. The slot goes to the oldest
// present ticket of the deployment first. It wakes when a slot of the
// workspace is released (the oldest waiter of each process), and
// re-checks (refreshing its ticket) every PollInterval in any case.
func (r *Redis) Acquire(ctx context.Context, ws string, t Ticket) (func(), error) {
	if t.ID == "" {
		t.ID = newLeaseID()
	}
	if t.Since.IsZero() {
		t.Since = time.Now()
	}
	rel, ok, err := r.tryAcquire(ctx, ws, &t)
	if err != nil || ok {
		if err != nil {
			r.leave(ws, t)
		}
		return rel, err
	}
	// From here on this caller is queued here and in Redis.
	me := &redisWaiter{t: t, ch: make(chan struct{}, 1)}
	r.subscribe(ws, me)
	defer r.unsubscribe(ws, me)
	for {
		rel, ok, err := r.tryAcquire(ctx, ws, &t)
		if ok {
			r.wakeNext(ws, me) // a message meant for us may have been spent
			return rel, nil
		}
		if err != nil {
			if t.holds(ctx) && r.hold(ws, t) { // the round ran out during the call
				return nil, fmt.Errorf("%w (%w)", err, ErrPlaceKept)
			}
			r.leave(ws, t)
			return nil, err
		}
		tm := time.NewTimer(r.PollInterval)
		select {
		case <-ctx.Done():
			tm.Stop()
			if t.holds(ctx) && r.hold(ws, t) {
				return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w (%w)", ws, ctx.Err(), ErrPlaceKept)
			}
			r.leave(ws, t)
			return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", ws, ctx.Err())
		case <-me.ch:
		case <-tm.C:
		}
		tm.Stop()
	}
}

// leave withdraws a ticket (best effort: a ticket left behind goes stale).
func (r *Redis) leave(ws string, t Ticket) {
	keys := r.keys(ws)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = leaveScript.Run(ctx, r.rdb, keys, t.ID).Err()
}

// hold keeps a ticket's place for t.Hold and reports whether it did (a
// place not kept is taken back when the delivery returns, by its Since).
func (r *Redis) hold(ws string, t Ticket) bool {
	keys := r.keys(ws)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return holdScript.Run(ctx, r.rdb, keys[1:3], t.ID, t.Since.UnixMilli(), t.Hold.Milliseconds()).Err() == nil
}

// subscribe queues a waiter by age, starting the workspace's subscription
// if it is the first.
func (r *Redis) subscribe(ws string, me *redisWaiter) {
	r.mu.Lock()
	if w, ok := r.subs[ws]; ok {
		i := slices.IndexFunc(w.queue, func(o *redisWaiter) bool { return me.t.Before(o.t) })
		if i < 0 {
			i = len(w.queue)
		}
		w.queue = slices.Insert(w.queue, i, me)
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &wakeup{queue: []*redisWaiter{me}, cancel: cancel}
	r.subs[ws] = w
	r.mu.Unlock()

	ps := r.rdb.Subscribe(ctx, r.keys(ws)[3])
	// Wait until the subscription is active, so that no release after this
	// point is missed (the caller re-checks once more afterwards).
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	_, _ = ps.Receive(rctx)
	rcancel()
	go func() {
		defer ps.Close()
		msgs := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				r.wakeNext(ws, nil)
			}
		}
	}()
}

// wakeNext signals the oldest waiter of the workspace other than skip.
func (r *Redis) wakeNext(ws string, skip *redisWaiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.subs[ws]
	if w == nil {
		return
	}
	for _, o := range w.queue {
		if o == skip {
			continue
		}
		select {
		case o.ch <- struct{}{}:
			return
		default: // already signalled and about to try: signal the next
		}
	}
}

func (r *Redis) unsubscribe(ws string, me *redisWaiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.subs[ws]
	if w == nil {
		return
	}
	if i := slices.Index(w.queue, me); i >= 0 {
		w.queue = slices.Delete(w.queue, i, i+1)
	}
	if len(w.queue) == 0 {
		w.cancel()
		delete(r.subs, ws)
	}
}

func newLeaseID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed")) // never happens on Linux
	}
	return hex.EncodeToString(b)
}
