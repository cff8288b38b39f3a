package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/condition"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/registry"
	"github.com/hari-crm/webhooks/service"
	"github.com/hari-crm/webhooks/signature"
	"github.com/hari-crm/webhooks/webhook"
	"github.com/hari-crm/webhooks/workflows"
)

// registryRun returns the status and run ID of a workspace's registry.
func registryRun(t *testing.T, ws string) (enumspb.WorkflowExecutionStatus, string) {
	t.Helper()
	d, err := tc.DescribeWorkflowExecution(context.Background(), workflows.RegistryWorkflowID(ws), "")
	if err != nil {
		t.Fatalf("describe registry: %v", err)
	}
	info := d.GetWorkflowExecutionInfo()
	return info.GetStatus(), info.GetExecution().GetRunId()
}

func terminateRegistry(t *testing.T, ws string) string {
	t.Helper()
	_, runID := registryRun(t, ws)
	if err := tc.TerminateWorkflow(context.Background(), workflows.RegistryWorkflowID(ws), "", "test: registry lost"); err != nil {
		t.Fatalf("terminate registry: %v", err)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("after terminate: registry status %s, want terminated", st)
	}
	return runID
}

// A terminated registry comes back, whole, on the next read (the page's
// list), on the next write, and through the recover command: every
// webhook, its secret (a delivery is still signed with it) and the kept
// Test fire result.
func TestTerminatedRegistryRecovers(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `pong <&> "kept"`) })
	var ids []string
	for _, name := range []string{"A", "B", "C"} {
		var v view
		spec := strings.Replace(fmtURL(closedWon, rc.URL+"/"+name), "Closed Won to ERP", name, 1)
		if code, body := c.do("POST", c.hooks(), spec, &v); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
		ids = append(ids, v.ID)
	}
	var fired testResult
	if code, body := c.do("POST", c.hooks()+"/"+ids[0]+"/test-fire", "", &fired); code != 200 || fired.StatusCode != 200 {
		t.Fatalf("test fire: %d %s", code, body)
	}

	// 1. A read finds it terminated and brings it back.
	ended := terminateRegistry(t, c.ws)
	var list struct{ Webhooks []view }
	start := time.Now()
	if code, body := c.do("GET", c.hooks(), "", &list); code != 200 || len(list.Webhooks) != 3 {
		t.Fatalf("list after termination: got %d with %s, want 200 with 3 webhooks", code, body)
	}
	t.Logf("the first list after the termination recovered the registry and answered in %s", time.Since(start).Round(time.Millisecond))
	st, run := registryRun(t, c.ws)
	if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || run == ended {
		t.Fatalf("after the read: registry %s in run %s, want a new running run (ended run %s)", st, run, ended)
	}
	for i, v := range list.Webhooks {
		if v.ID != ids[i] || !v.HasSecret || v.Secret != "********cret" {
			t.Errorf("recovered webhook %d: got %+v, want %s with its secret", i, v, ids[i])
		}
	}
	var stored struct{ Result *testResult }
	c.do("GET", c.hooks()+"/"+ids[0]+"/test-result", "", &stored)
	if stored.Result == nil || !stored.Result.FiredAt.Equal(fired.FiredAt) || stored.Result.Body != `pong <&> "kept"` {
		t.Errorf("recovered test result: got %+v, want the one fired at %s", stored.Result, fired.FiredAt)
	}
	// The sealed secrets still open: a real event is delivered signed.
	before := len(rc.Hits())
	var ev event.Event
	if err := json.Unmarshal([]byte(oppEvent(c.ws, "Closed Won")), &ev); err != nil {
		t.Fatal(err)
	}
	ev.ID = uuid.NewString()
	out := publishWait(t, workflows.EventInput{Event: ev})
	if len(out.Deliveries) != 3 {
		t.Fatalf("event after recovery: got %d deliveries, want 3", len(out.Deliveries))
	}
	hits := rc.WaitHits(t, before+3, 30*time.Second)
	for _, h := range hits[before:] {
		if !signature.VerifyRequest("hari_registry_secret", h.Header, h.Body) {
			t.Errorf("delivery after recovery at %s is not signed with the webhook's secret", h.At)
		}
	}

	// 2. A write finds it terminated, brings it back, then writes.
	terminateRegistry(t, c.ws)
	var d view
	spec := strings.Replace(fmtURL(closedWon, rc.URL+"/D"), "Closed Won to ERP", "D", 1)
	if code, body := c.do("POST", c.hooks(), spec, &d); code != http.StatusCreated {
		t.Fatalf("create after termination: %d %s", code, body)
	}
	c.do("GET", c.hooks(), "", &list)
	if len(list.Webhooks) != 4 || list.Webhooks[3].ID != d.ID {
		t.Errorf("after a create on a terminated registry: got %d webhooks, want the 3 recovered and the new one", len(list.Webhooks))
	}
	terminateRegistry(t, c.ws)
	var upd view
	if code, body := c.do("POST", c.hooks()+"/"+ids[1]+"/deactivate", "", &upd); code != 200 || upd.Active {
		t.Errorf("deactivate after termination: %d %s", code, body)
	}
	c.do("GET", c.hooks(), "", &list)
	if len(list.Webhooks) != 4 {
		t.Errorf("after an update on a terminated registry: got %d webhooks, want 4", len(list.Webhooks))
	}
}

// The recover command restores an ended registry from its last state; on
// a running one it does nothing. --from-input restores the run's start
// input and lists the writes that loses.
func TestStarterRecoverCommand(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) })
	e := newCLIEnv(t, rc)
	e.startWorker()
	ws := "rec-" + uuid.NewString()[:8]
	spec := `{"name": "%s", "entity": "opportunity", "events": ["stage.changed"],
	  "url": "` + rc.URL + `", "secret": "hari_cli_secret_1"}`
	var created []string
	for _, name := range []string{"one", "two"} {
		stdout, stderr, code := e.starterRun(fmt.Sprintf(spec, name), "webhooks", "create", "--workspace", ws, "--file", "-", "--json")
		var v struct{ ID string }
		if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil {
			t.Fatalf("create: exit %d, %s %s", code, stdout, stderr)
		}
		created = append(created, v.ID)
	}
	if stdout, _, code := e.starterRun("", "test-fire", "--workspace", ws, "--webhook", created[0], "--json"); code != 0 {
		t.Fatalf("test-fire: exit %d %s", code, stdout)
	}

	stdout, stderr, code := e.starterRun("", "webhooks", "recover", "--workspace", ws)
	if code != 0 || !strings.Contains(stdout, "is running") {
		t.Errorf("recover on a running registry: exit %d, %q %s, want \"is running\"", code, stdout, stderr)
	}

	ended := terminateRegistry(t, ws)
	stdout, stderr, code = e.starterRun("", "webhooks", "recover", "--workspace", ws, "--json")
	var rec struct {
		Recovered   bool   `json:"recovered"`
		EndedRunID  string `json:"ended_run_id"`
		EndedStatus string `json:"ended_status"`
		Webhooks    int    `json:"webhooks"`
		TestResults int    `json:"test_results"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rec) != nil {
		t.Fatalf("recover: exit %d, %s %s", code, stdout, stderr)
	}
	if !rec.Recovered || rec.EndedRunID != ended || rec.EndedStatus != "Terminated" || rec.Webhooks != 2 || rec.TestResults != 1 {
		t.Errorf("recover: got %+v, want run %s (Terminated) recovered with 2 webhooks and 1 test result", rec, ended)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("after recover: registry %s, want running", st)
	}
	stdout, _, _ = e.starterRun("", "test-result", "--workspace", ws, "--webhook", created[0], "--json")
	if !strings.Contains(stdout, `"fired_at"`) {
		t.Errorf("test-result after recover: %s", stdout)
	}

	// --from-input: the recovered run started with both webhooks; one
	// more write, then termination: the start input lacks that write, and
	// the command sends it again.
	if _, stderr, code := e.starterRun("", "webhooks", "deactivate", "--workspace", ws, "--id", created[1]); code != 0 {
		t.Fatalf("deactivate: exit %d %s", code, stderr)
	}
	terminateRegistry(t, ws)
	stdout, stderr, code = e.starterRun("", "webhooks", "recover", "--workspace", ws, "--from-input")
	if code != 0 || !strings.Contains(stdout, "from its start input") || !strings.Contains(stdout, "1 writes of the ended run sent again:\n  set_active "+created[1]) {
		t.Errorf("recover --from-input: exit %d, %q %s, want set_active %s sent again", code, stdout, stderr, created[1])
	}
	stdout, _, _ = e.starterRun("", "webhooks", "get", "--workspace", ws, "--id", created[1], "--json")
	if !strings.Contains(stdout, `"active": false`) && !strings.Contains(stdout, `"active":false`) {
		t.Errorf("after --from-input: %s, want the deactivation re-applied", stdout)
	}
}

// Oversized definitions are refused through the API with the field named,
// and nothing is stored.
func TestOversizedDefinitionsRefused(t *testing.T) {
	t.Parallel()
	c := newAPI(t)
	rc := devtest.NewReceiver(t, nil)
	base := fmtURL(closedWon, rc.URL)
	var conds []string
	for i := 0; i < condition.MaxConditions; i++ {
		conds = append(conds, fmt.Sprintf(`{"field": "f%d", "op": "equals", "value": "%s"}`, i, strings.Repeat("<", 500)))
	}
	for _, b := range []struct{ body, field, msg string }{
		{strings.Replace(base, `"value": "Closed Won"`, `"value": "`+strings.Repeat("x", 600)+`"`, 1), "conditions", "longer than 512"},
		{strings.Replace(base, `[{"field": "stage", "op": "changed_to", "value": "Closed Won"}]`, "["+strings.Join(conds, ",")+"]", 1), "definition", "at most 4096"},
	} {
		var e apiError
		code, raw := c.do("POST", c.hooks(), b.body, &e)
		if code != http.StatusBadRequest || e.Error.Field != b.field || !strings.Contains(e.Error.Message, b.msg) {
			t.Errorf("oversized create: got %d %.300s, want 400 on field %s saying %q", code, raw, b.field, b.msg)
		}
	}
	var list struct{ Webhooks []view }
	if c.do("GET", c.hooks(), "", &list); len(list.Webhooks) != 0 {
		t.Errorf("after refused creates: got %d webhooks, want 0", len(list.Webhooks))
	}
}

// maxDefinition is a definition at the size bound: a name of '<', a URL
// of '&', 20 conditions of '<' up to the whole definition's 4 KiB encoded.
func maxDefinition(t *testing.T, name, url string) webhook.Config {
	t.Helper()
	c := webhook.Config{
		Name: name + strings.Repeat("<", webhook.MaxNameRunes-len(name)), Entity: "opportunity",
		Events: []event.Type{event.RecordUpdated, event.StageChanged},
		URL:    url + "/h?" + strings.Repeat("a=&", 100), Fields: []string{"name", "amount"},
	}
	for f := 0; f < condition.MaxConditions; f++ {
		c.Conditions = append(c.Conditions, condition.Condition{Field: fmt.Sprintf("f%d", f), Op: condition.NotEquals, Value: json.RawMessage(`""`)})
	}
	for k := 0; ; k = (k + 1) % condition.MaxConditions {
		v := c.Conditions[k].Value
		c.Conditions[k].Value = json.RawMessage(`"<` + string(v[1:]))
		if c.Validate() != nil {
			c.Conditions[k].Value = v
			break
		}
	}
	return c
}

// Through a real server: 200 webhooks at the size bound with rotated
// secrets and 200 kept Test fire results full of escaped bytes; the
// registry continues as new with that state (twice, at 300 and 600
// writes) and keeps running, every webhook there.
func TestRegistrySurvivesContinueAsNewAtWorstCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	body := strings.Repeat("<>&\"\\\x00\x01\u2028", 4096/12)
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		_, _ = io.WriteString(w, body)
	})
	ws := "worst-" + uuid.NewString()[:8]
	first, second := "hari_first_secret_"+strings.Repeat("x", 200), "hari_second_secret_"+strings.Repeat("y", 200)
	var ids []string
	for i := 0; i < workflows.MaxWebhooks; i++ {
		v, err := reg.Create(ctx, ws, webhook.Spec{Config: maxDefinition(t, fmt.Sprintf("%03d", i), rc.URL), Secret: &first})
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		ids = append(ids, v.ID)
	}
	_, firstRun := registryRun(t, ws)
	for i, id := range ids {
		if _, err := reg.Update(ctx, ws, id, webhook.Spec{Config: maxDefinition(t, fmt.Sprintf("%03d", i), rc.URL), Secret: &second}); err != nil {
			t.Fatalf("rotate %d: %v", i, err)
		}
	}
	for _, id := range ids {
		if _, err := reg.TestFire(ctx, ws, id); err != nil {
			t.Fatalf("test fire %s: %v", id, err)
		}
	}
	// More writes until the registry continues as new with every result.
	_, afterFires := registryRun(t, ws)
	if afterFires == firstRun {
		t.Fatalf("600 writes and the registry never continued as new")
	}
	st, run := registryRun(t, ws)
	for n := 0; run == afterFires && n < 400; n++ {
		if _, err := reg.SetActive(ctx, ws, ids[n%len(ids)], true); err != nil {
			t.Fatalf("set active: %v", err)
		}
		st, run = registryRun(t, ws)
	}
	if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || run == afterFires {
		t.Fatalf("after 1,000 writes: registry %s in run %s, want running in a run after %s", st, run, afterFires)
	}
	it := tc.GetWorkflowHistory(ctx, workflows.RegistryWorkflowID(ws), run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	startEv, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	size := startEv.GetWorkflowExecutionStartedEventAttributes().GetInput().Size()
	if size < 1<<20 || size > workflows.RegistryStateLimit+4096 {
		t.Errorf("continue-as-new input: got %d bytes, want between 1 MiB (the worst case was built) and %d", size, workflows.RegistryStateLimit+4096)
	}
	var in workflows.RegistryInput
	if err := codec.DataConverter(srv.Keys).FromPayloads(startEv.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil || in.State == nil {
		t.Fatalf("decode the start input: %v", err)
	}
	t.Logf("registry continued as new with %d worst-case webhooks and %d kept test results: start input of the new run %d bytes encrypted (Temporal's limit %d)",
		len(in.State.Webhooks), len(in.State.Tests), size, 2<<20)
	if len(in.State.Webhooks) != workflows.MaxWebhooks || len(in.State.Tests) < 50 {
		t.Errorf("carried state: got %d webhooks and %d test results, want %d and at least 50", len(in.State.Webhooks), len(in.State.Tests), workflows.MaxWebhooks)
	}
	list, err := reg.List(ctx, ws)
	if err != nil || len(list) != workflows.MaxWebhooks {
		t.Fatalf("list after continue-as-new: got %d webhooks (%v), want %d", len(list), err, workflows.MaxWebhooks)
	}
	res, err := reg.TestResult(ctx, ws, ids[len(ids)-1])
	if err != nil || res == nil || res.StatusCode != 500 || !res.BodyTruncated {
		t.Errorf("newest test result after continue-as-new: got %+v (%v)", res, err)
	}
}

// A registry run that the current code cannot replay (it was written by
// code that also started a timer, and no workflow.GetVersion guards the
// change): automatic recovery refuses with ErrUnrecoverable and says what
// to do; --from-input restores the run's start input and lists every
// write accepted after it.
func TestUnreplayableRegistryRecoversFromInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := devtest.NewReceiver(t, nil)
	queue := "legacy-" + uuid.NewString()[:8]
	legacy := worker.New(tc, queue, worker.Options{})
	legacy.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.RegistryInput) error {
		workflow.Go(ctx, func(ctx workflow.Context) { _ = workflow.Sleep(ctx, time.Millisecond) })
		return workflows.RegistryWorkflow(ctx, in)
	}, workflow.RegisterOptions{Name: workflows.RegistryWorkflowName})
	if err := legacy.Start(); err != nil {
		t.Fatal(err)
	}
	r := registry.New(tc, registry.Options{Sealer: srv.Keys, TaskQueue: queue, Hosts: guard, DataConverter: codec.DataConverter(srv.Keys)})
	ws := "legacy-" + uuid.NewString()[:8]
	var ids []string
	for _, name := range []string{"one", "two"} {
		v, err := r.Create(ctx, ws, webhook.Spec{Config: webhook.Config{Name: name, Entity: "contact", Events: []event.Type{event.RecordCreated}, URL: rc.URL}})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		ids = append(ids, v.ID)
	}
	if _, err := r.SetActive(ctx, ws, ids[1], false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.TestFire(ctx, ws, ids[0]); err != nil {
		t.Fatal(err)
	}
	ended := terminateRegistry(t, ws)
	legacy.Stop()

	current, err := service.NewWorker(tc, service.Options{AllowDirectSecrets: true, TaskQueue: queue, Secrets: srv.Keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := current.Start(); err != nil {
		t.Fatal(err)
	}
	defer current.Stop()

	start := time.Now()
	_, err = r.Recover(ctx, ws, registry.RecoverOptions{})
	t.Logf("automatic recovery of an unreplayable run answered in %s: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, registry.ErrUnrecoverable) || !strings.Contains(err.Error(), "--from-input") {
		t.Fatalf("recover an unreplayable run: got %v, want ErrUnrecoverable naming --from-input", err)
	}
	if st, run := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED || run != ended {
		t.Fatalf("after a refused recovery: registry %s in run %s, want the ended run %s left as it was", st, run, ended)
	}
	rec, err := r.Recover(ctx, ws, registry.RecoverOptions{FromInput: true})
	if err != nil {
		t.Fatalf("recover --from-input: %v", err)
	}
	want := []string{"create " + ids[0], "create " + ids[1], "set_active " + ids[1]}
	if !rec.Recovered || !rec.FromInput || fmt.Sprint(rec.Reapplied) != fmt.Sprint(want) ||
		len(rec.LostWrites) != 1 || !strings.HasPrefix(rec.LostWrites[0], "test_fire "+ids[0]+": not repeated") {
		t.Errorf("recover --from-input: got %+v, want recovered with %v sent again and the test fire listed as lost", rec, want)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("after --from-input: registry %s, want running", st)
	}
	list, err := r.List(ctx, ws)
	if err != nil || len(list) != 2 || list[0].ID != ids[0] || !list[0].Active || list[1].Active {
		t.Errorf("after --from-input: got %+v (%v), want %s active and %s inactive", list, err, ids[0], ids[1])
	}
}

// Registries nobody touches are recovered too: `starter webhooks recover
// --all` finds the ended registries of its task queue through visibility,
// and the worker sweeps them on its own (HARI_RECOVER_EVERY).
func TestRecoverAllAndWorkerSweep(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	e := newCLIEnv(t, rc).withEnv("HARI_RECOVER_EVERY=0")
	e.startWorker()
	spec := `{"name": "hook", "entity": "contact", "events": ["record.created"], "url": "` + rc.URL + `"}`
	spaces := []string{"all-" + uuid.NewString()[:8], "all-" + uuid.NewString()[:8]}
	for _, ws := range spaces {
		if _, stderr, code := e.starterRun(spec, "webhooks", "create", "--workspace", ws, "--file", "-"); code != 0 {
			t.Fatalf("create: exit %d %s", code, stderr)
		}
		terminateRegistry(t, ws)
	}
	running := func(ws string) bool {
		st, _ := registryRun(t, ws)
		return st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}
	// Visibility may trail a termination by a moment.
	var recovered []string
	for try := 0; try < 20 && !(running(spaces[0]) && running(spaces[1])); try++ {
		stdout, stderr, code := e.starterRun("", "webhooks", "recover", "--all", "--json")
		var recs []struct {
			Workspace string `json:"workspace"`
			Webhooks  int    `json:"webhooks"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &recs) != nil {
			t.Fatalf("recover --all: exit %d, %s %s", code, stdout, stderr)
		}
		for _, r := range recs {
			if r.Webhooks != 1 {
				t.Errorf("recover --all: %s came back with %d webhooks, want 1", r.Workspace, r.Webhooks)
			}
			recovered = append(recovered, r.Workspace)
		}
		time.Sleep(250 * time.Millisecond)
	}
	slices.Sort(recovered)
	want := slices.Clone(spaces)
	slices.Sort(want)
	if !slices.Equal(recovered, want) {
		t.Errorf("recover --all: recovered %v, want exactly %v (each once)", recovered, want)
	}

	// The worker's sweep, with nobody calling.
	e.withEnv("HARI_RECOVER_EVERY=500ms").startWorker()
	terminateRegistry(t, spaces[0])
	deadline := time.Now().Add(20 * time.Second)
	for !running(spaces[0]) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !running(spaces[0]) {
		t.Errorf("the worker's sweep did not recover %s within 20 s", spaces[0])
	}
}
