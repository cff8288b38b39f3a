package integration

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/workflows"
)

// closedWonEvent is an event of workspace ws that closedWon matches.
func closedWonEvent(ws string) event.Event {
	ev := newEvent()
	ev.Workspace = ws
	ev.Changes = map[string]event.Change{"stage": event.ChangeOf("Negotiation", "Closed Won")}
	return ev
}

const contactHook = `{"name": "New contacts", "entity": "contact", "events": ["record.created"], "url": "%s"}`

// 200 deliveries that failed while the receiver was down are recovered in
// one action once it is back: each sent exactly once, at most
// DefaultRecoveryConcurrency at once, with progress; a second start of the
// same recovery and another recovery over the same time send nothing
// more; live deliveries of the same workspace keep their latency.
func TestRecoverFailedDeliveriesSinceT(t *testing.T) {
	t.Parallel()
	const n = 200
	c := newAPI(t)
	since := time.Now().Add(-time.Second).UTC()

	var down atomic.Bool
	down.Store(true)
	var inFlight, maxInFlight atomic.Int32
	recovered := map[string]int{}
	var mu sync.Mutex
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); now > m && !maxInFlight.CompareAndSwap(m, now); m = maxInFlight.Load() {
		}
		mu.Lock()
		recovered[r.Header.Get(signature.HeaderID)]++
		mu.Unlock()
		time.Sleep(200 * time.Millisecond) // a receiver that takes its time
		w.WriteHeader(http.StatusOK)
	})
	live := devtest.NewReceiver(t, nil)
	var wh, lh view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := c.do("POST", c.hooks(), fmtURL(contactHook, live.URL+"/crm"), &lh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}

	// The outage: n deliveries fail.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids := make([]string, n)
	for i := range ids {
		r, err := pub.Publish(ctx, workflowsInput(closedWonEvent(c.ws)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.EventID
	}
	var want []string
	for _, id := range ids {
		o, err := pub.Wait(ctx, c.ws, id)
		if err != nil {
			t.Fatal(err)
		}
		if o.Deliveries[0].Status != workflows.StatusFailed {
			t.Fatalf("event %s: got %s, want failed during the outage", id, o.Deliveries[0].Status)
		}
		want = append(want, o.Deliveries[0].DeliveryID)
	}
	// Visibility is eventually consistent: the outcomes are recorded by
	// the time every event is listed as failed.
	waitListed(t, ctx, c.ws, wh.ID, since, n)

	// Live latency before the recovery, as a baseline.
	before := liveLatencies(t, ctx, c.ws, live, 10, nil)

	down.Store(false)
	var job publisher.RecoveryJob
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Format(time.RFC3339Nano)+`"}`, &job); code != http.StatusAccepted || job.JobID == "" {
		t.Fatalf("recover: %d %s", code, body)
	}
	var again publisher.RecoveryJob
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Format(time.RFC3339Nano)+`"}`, &again); code != http.StatusAccepted || again.JobID != job.JobID || !again.Duplicate {
		t.Fatalf("the same recovery again: got %d %s, want 202 with job %s as a duplicate", code, body, job.JobID)
	}

	// Live deliveries during the recovery, and its progress.
	var progress []publisher.Recovery
	during := liveLatencies(t, ctx, c.ws, live, 20, func() {
		var p publisher.Recovery
		if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/recoveries/"+job.JobID, "", &p); code != http.StatusOK {
			t.Fatalf("progress: %d %s", code, body)
		}
		progress = append(progress, p)
	})
	var final publisher.Recovery
	for deadline := time.Now().Add(3 * time.Minute); ; {
		if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/recoveries/"+job.JobID, "", &final); code != http.StatusOK {
			t.Fatalf("progress: %d %s", code, body)
		}
		if final.Done {
			break
		}
		progress = append(progress, final)
		if time.Now().After(deadline) {
			t.Fatalf("recovery not done after 3 minutes: %+v", final)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if final.State != workflows.RecoveryDone || final.Total != n || final.Sent != n || final.Failed != 0 {
		t.Fatalf("got %+v, want done with %d of %d sent", final, n, n)
	}
	partial := slices.ContainsFunc(progress, func(p publisher.Recovery) bool { return p.Sent > 0 && p.Sent < n })
	if !partial {
		t.Errorf("progress never showed a job under way (n of %d sent): %+v", n, progress)
	}

	// Another recovery over the same time, once the first has ended, is a
	// new run of the webhook's job and sends nothing more.
	earlier := since.Add(-time.Minute)
	var other publisher.RecoveryJob
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+earlier.Format(time.RFC3339Nano)+`"}`, &other); code != http.StatusAccepted || other.Duplicate {
		t.Fatalf("recover since an earlier time: %d %s", code, body)
	}
	for {
		var p publisher.Recovery
		c.do("GET", c.hooks()+"/"+wh.ID+"/recoveries/"+other.JobID, "", &p)
		if p.Done {
			if p.Total != n || p.Sent != n {
				t.Errorf("second recovery: got %+v, want all %d found and already sent", p, n)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(recovered) != n {
		t.Errorf("the receiver got %d distinct deliveries, want %d", len(recovered), n)
	}
	for _, id := range want {
		if recovered[id] != 1 {
			t.Errorf("delivery %s: got %d requests after the outage, want exactly 1", id, recovered[id])
		}
	}
	if m := maxInFlight.Load(); m > workflows.DefaultRecoveryConcurrency {
		t.Errorf("got %d recovered deliveries in flight at once, want at most %d (the rest of the workspace's 50 stay free)", m, workflows.DefaultRecoveryConcurrency)
	}
	p50b, maxb := summary(before)
	p50d, maxd := summary(during)
	t.Logf("live delivery latency: before p50 %v max %v; during the recovery p50 %v max %v; recovered in flight at most %d", p50b, maxb, p50d, maxd, maxInFlight.Load())
	if p50d > 3*p50b+300*time.Millisecond || maxd > 5*time.Second {
		t.Errorf("live deliveries slowed by the recovery: p50 %v (before %v), max %v; want p50 at most 3x+300ms, max under 5s", p50d, p50b, maxd)
	}
}

// liveLatencies publishes k contact events one after another and returns
// how long each took to reach the receiver; between events it calls tick.
func liveLatencies(t *testing.T, ctx context.Context, ws string, rc *devtest.Receiver, k int, tick func()) []time.Duration {
	t.Helper()
	var out []time.Duration
	for range k {
		ev := newEvent()
		ev.Workspace, ev.Type, ev.Entity, ev.Changes = ws, event.RecordCreated, "contact", nil
		start := time.Now()
		if _, err := pub.Publish(ctx, workflowsInput(ev)); err != nil {
			t.Fatal(err)
		}
		for {
			if slices.ContainsFunc(rc.Hits(), func(h devtest.Hit) bool { return strings.HasPrefix(h.Header.Get(signature.HeaderID), ev.ID+":") }) {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("live event %s not delivered in 30 s", ev.ID)
			}
			time.Sleep(5 * time.Millisecond)
		}
		out = append(out, time.Since(start))
		if tick != nil {
			tick()
		}
	}
	return out
}

func summary(ds []time.Duration) (p50, max time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

func workflowsInput(ev event.Event) workflows.EventInput { return workflows.EventInput{Event: ev} }

// failedSince creates a closed-won webhook of c's workspace aimed at rc,
// publishes n matching events, waits for each outcome and for visibility
// to list them since since, and returns the webhook and the delivery IDs
// in publish order.
func failedSince(t *testing.T, ctx context.Context, c *apiClient, rc *devtest.Receiver, n int, since time.Time) (view, []string) {
	t.Helper()
	var wh view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var ids []string
	for _, o := range publishAndWait(t, ctx, c.ws, n) {
		ids = append(ids, o.Deliveries[0].DeliveryID)
	}
	waitListed(t, ctx, c.ws, wh.ID, since, n)
	return wh, ids
}

// publishAndWait publishes n closed-won events of workspace ws, one after
// another, and returns each one's outcome once its workflow has ended.
func publishAndWait(t *testing.T, ctx context.Context, ws string, n int) []publisher.Outcome {
	t.Helper()
	out := make([]publisher.Outcome, n)
	for i := range out {
		r, err := pub.Publish(ctx, workflowsInput(closedWonEvent(ws)))
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = pub.Wait(ctx, ws, r.EventID); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitListed waits until visibility lists the webhook's n failed events.
func waitListed(t *testing.T, ctx context.Context, ws, webhookID string, since time.Time, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		page, err := pub.FailedDeliveries(ctx, activities.FailedQuery{Workspace: ws, WebhookID: webhookID, Since: since, Until: time.Now(), Max: 10 * n})
		ids := page.DeliveryIDs
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility lists %d failed deliveries, want %d", len(ids), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A canceled recovery starts no more redeliveries: those under way finish,
// the rest are not sent, and its progress says canceled.
func TestRecoveryCanBeCanceled(t *testing.T) {
	t.Parallel()
	const n = 30
	c := newAPI(t)
	since := time.Now().Add(-time.Second).UTC()
	var down atomic.Bool
	down.Store(true)
	var sent atomic.Int32
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		sent.Add(1)
		time.Sleep(time.Second) // slow enough to cancel midway
		w.WriteHeader(http.StatusOK)
	})
	var wh view
	if code, body := c.do("POST", c.hooks(), fmtURL(closedWon, rc.URL+"/erp"), &wh); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	publishAndWait(t, ctx, c.ws, n)
	waitListed(t, ctx, c.ws, wh.ID, since, n)
	down.Store(false)
	var job publisher.RecoveryJob
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Format(time.RFC3339Nano)+`"}`, &job); code != http.StatusAccepted {
		t.Fatalf("recover: %d %s", code, body)
	}
	for deadline := time.Now().Add(time.Minute); sent.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no redelivery reached the receiver within a minute")
		}
	}
	// One recovery of a webhook at a time: another while it runs is
	// refused with the running job's ID.
	var busy struct {
		apiError
		JobID string `json:"job_id"`
	}
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Add(-time.Hour).Format(time.RFC3339Nano)+`"}`, &busy); code != http.StatusConflict || busy.Error.Code != "recovery_running" || busy.JobID != job.JobID {
		t.Errorf("a second recovery while one runs: got %d %s, want 409 recovery_running with job %s", code, body, job.JobID)
	}
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recoveries/"+job.JobID+"/cancel", "", nil); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, body)
	}
	var p publisher.Recovery
	for deadline := time.Now().Add(time.Minute); !p.Done; time.Sleep(100 * time.Millisecond) {
		if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/recoveries/"+job.JobID, "", &p); code != http.StatusOK {
			t.Fatalf("progress: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("recovery not ended a minute after cancel: %+v", p)
		}
	}
	if p.State != workflows.RecoveryCanceled || p.Total != n {
		t.Errorf("after cancel: got %+v, want canceled with %d found", p, n)
	}
	time.Sleep(3 * time.Second) // those under way finish
	after := sent.Load()
	time.Sleep(3 * time.Second)
	if got := sent.Load(); got != after || got >= n {
		t.Errorf("receiver got %d redeliveries, then %d; want no more after the cancel, and fewer than %d", after, got, n)
	}
	t.Logf("canceled after %d of %d redeliveries reached the receiver", after, n)

	// Recover again once it has ended: a new run that sends the rest, each
	// delivery still once.
	var again publisher.RecoveryJob
	if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Format(time.RFC3339Nano)+`"}`, &again); code != http.StatusAccepted || again.Duplicate {
		t.Fatalf("recover after the cancel: got %d %s, want 202, not a duplicate", code, body)
	}
	p = publisher.Recovery{}
	for deadline := time.Now().Add(2 * time.Minute); !p.Done; time.Sleep(200 * time.Millisecond) {
		if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/recoveries/"+again.JobID, "", &p); code != http.StatusOK {
			t.Fatalf("progress: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("second recovery not done in 2 minutes: %+v", p)
		}
	}
	if p.State != workflows.RecoveryDone || p.Sent != n {
		t.Errorf("second recovery: got %+v, want done with %d of %d sent", p, n, n)
	}
	if got := sent.Load(); got != n {
		t.Errorf("receiver got %d redeliveries in all, want %d (each once)", got, n)
	}
}

// The listing of a recovery walks a backlog larger than one batch oldest
// first against the real visibility store: batches of 3 over 7 failed
// deliveries give each once, in publish order (visibility itself lists
// newest first).
func TestFailedDeliveriesInBatchesOldestFirst(t *testing.T) {
	t.Parallel()
	const n = 7
	c := newAPI(t)
	since := time.Now().Add(-time.Second).UTC()
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wh, want := failedSince(t, ctx, c, rc, n, since)
	var got []string
	var after *activities.Cursor
	batches, progressed := 0, 0
	for {
		page, err := pub.FailedDeliveries(ctx, activities.FailedQuery{Workspace: c.ws, WebhookID: wh.ID, Since: since, Until: time.Now(), Max: 3, After: after,
			Progress: func(int, int) { progressed++ }})
		if err != nil {
			t.Fatal(err)
		}
		batches++
		got = append(got, page.DeliveryIDs...)
		if page.Next == nil || batches > n {
			break
		}
		after = page.Next
	}
	if batches != 3 {
		t.Errorf("got %d batches, want 3", batches)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got deliveries %v, want %v (oldest first, each once)", got, want)
	}
	if progressed == 0 {
		t.Error("got no progress call, want one per page and per event read")
	}
}

// A recovery whose redeliveries failed (the receiver still down) does not
// use the deliveries up: the next recovery, once the receiver is back,
// sends each of them once.
func TestFailedRecoveryCanBeRecoveredAgain(t *testing.T) {
	t.Parallel()
	const n = 3
	c := newAPI(t)
	since := time.Now().Add(-time.Second).UTC()
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	got := map[string]int{}
	rc := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		mu.Lock()
		got[r.Header.Get(signature.HeaderID)]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wh, want := failedSince(t, ctx, c, rc, n, since)
	recoverAll := func(what string) publisher.Recovery {
		var job publisher.RecoveryJob
		if code, body := c.do("POST", c.hooks()+"/"+wh.ID+"/recover", `{"since": "`+since.Format(time.RFC3339Nano)+`"}`, &job); code != http.StatusAccepted || job.Duplicate {
			t.Fatalf("%s: got %d %s, want 202, not a duplicate", what, code, body)
		}
		var p publisher.Recovery
		for deadline := time.Now().Add(time.Minute); !p.Done; time.Sleep(200 * time.Millisecond) {
			if code, body := c.do("GET", c.hooks()+"/"+wh.ID+"/recoveries/"+job.JobID, "", &p); code != http.StatusOK {
				t.Fatalf("%s progress: %d %s", what, code, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not done in a minute: %+v", what, p)
			}
		}
		return p
	}
	if p := recoverAll("recovery while still down"); p.State != workflows.RecoveryDone || p.Failed != n || p.Sent != 0 {
		t.Fatalf("recovery while down: got %+v, want done with %d failed", p, n)
	}
	down.Store(false)
	if p := recoverAll("recovery once back"); p.State != workflows.RecoveryDone || p.Sent != n || p.Failed != 0 {
		t.Errorf("recovery once back: got %+v, want done with %d of %d sent", p, n, n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("delivery %s: got %d requests once back, want 1", id, got[id])
		}
	}
}
