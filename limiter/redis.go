package limiter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLease is how long a slot is held at most without being released:
// the 15 s attempt plus a margin. A worker killed while holding slots gives
// them back by lease expiry within this time.
const DefaultLease = 20 * time.Second

// acquireScript takes a slot if the workspace has fewer than ARGV[1] live
// leases. Expired leases (KEYS[1] is a sorted set of lease -> expiry in ms,
// by the Redis server's clock) are dropped first, so a dead worker's slots
// come back without anyone releasing them.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
`)

// releaseScript frees a lease and wakes waiters on the workspace's channel.
var releaseScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', KEYS[2], '1')
end
return 1
`)

// Redis is a per-workspace limiter shared by every worker through Redis:
// each slot is a lease with an expiry in a sorted set. Waiters are woken by
// a pub/sub message when a slot is released, and re-check at least every
// PollInterval (for slots that come back by expiry).
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
// process. Each release message wakes one waiter, the longest waiting: a
// freed slot is taken up at once, without a stampede of every waiter.
type wakeup struct {
	queue  []chan struct{}
	cancel context.CancelFunc
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

func (r *Redis) keys(ws string) (string, string) {
	return r.prefix + "{" + ws + "}", r.prefix + "{" + ws + "}:free"
}

// InFlight returns the number of live leases of a workspace.
func (r *Redis) InFlight(ctx context.Context, ws string) (int, error) {
	key, _ := r.keys(ws)
	now, err := r.rdb.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	n, err := r.rdb.ZCount(ctx, key, fmt.Sprint(now.UnixMilli()), "+inf").Result()
	return int(n), err
}

// TryAcquire takes a slot if one is free now and no caller of this
// process already waits for one of the workspace (first come, first
// served, as the in-process limiter).
func (r *Redis) TryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	r.mu.Lock()
	w := r.subs[ws]
	queued := w != nil && len(w.queue) > 0
	r.mu.Unlock()
	if queued {
		return nil, false, nil
	}
	return r.tryAcquire(ctx, ws)
}

func (r *Redis) tryAcquire(ctx context.Context, ws string) (func(), bool, error) {
	key, channel := r.keys(ws)
	id := newLeaseID()
	got, err := acquireScript.Run(ctx, r.rdb, []string{key}, r.limit, r.lease.Milliseconds(), id).Int()
	if err != nil {
		// The script may have run before the error (a deadline on the way
		// back): give the lease back rather than leave it until it expires.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = releaseScript.Run(rctx, r.rdb, []string{key, channel}, id).Err()
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
			_ = releaseScript.Run(ctx, r.rdb, []string{key, channel}, id).Err()
		})
	}, true, nil
}

// Acquire waits for a slot until ctx ends. It wakes when a slot of the
// workspace is released (one waiter per release, oldest first), and
// re-checks every PollInterval in any case (for slots that come back by
// lease expiry).
func (r *Redis) Acquire(ctx context.Context, ws string) (func(), error) {
	if rel, ok, err := r.TryAcquire(ctx, ws); err != nil || ok {
		return rel, err
	}
	// From here on this caller is in the queue and tries for itself.
	me := make(chan struct{}, 1)
	r.subscribe(ws, me)
	defer r.unsubscribe(ws, me)
	for {
		if rel, ok, err := r.tryAcquire(ctx, ws); err != nil || ok {
			if ok {
				r.wakeNext(ws, me) // a message meant for us may have been spent
			}
			return rel, err
		}
		t := time.NewTimer(r.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for a delivery slot of workspace %s: %w", ws, ctx.Err())
		case <-me:
		case <-t.C:
		}
		t.Stop()
	}
}

// subscribe queues a waiter, starting the workspace's subscription if it
// is the first.
func (r *Redis) subscribe(ws string, me chan struct{}) {
	r.mu.Lock()
	if w, ok := r.subs[ws]; ok {
		w.queue = append(w.queue, me)
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &wakeup{queue: []chan struct{}{me}, cancel: cancel}
	r.subs[ws] = w
	r.mu.Unlock()

	_, channel := r.keys(ws)
	ps := r.rdb.Subscribe(ctx, channel)
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
func (r *Redis) wakeNext(ws string, skip chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.subs[ws]
	if w == nil {
		return
	}
	for _, ch := range w.queue {
		if ch == skip {
			continue
		}
		select {
		case ch <- struct{}{}:
			return
		default: // already signalled and about to try: signal the next
		}
	}
}

func (r *Redis) unsubscribe(ws string, me chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.subs[ws]
	if w == nil {
		return
	}
	for i, ch := range w.queue {
		if ch == me {
			w.queue = append(w.queue[:i:i], w.queue[i+1:]...)
			break
		}
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
