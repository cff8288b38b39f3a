package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/event"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/workflows"
)

// The production shape's Web UI shows an event's payloads decoded once the
// engineer's browser has signed in to the codec endpoint with the codec
// token (the UI cannot send a bearer token; it sends the sign-in cookie
// with its codec calls), and only then: before, it shows them encrypted.
func TestStackWebUIDecodesAfterCodecSignIn(t *testing.T) {
	s := needStack(t)
	token, err := os.ReadFile(s.Env["HARI_CODEC_TOKEN_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	rc := devtest.NewReceiver(t, codes(200))
	name := "Codec sign-in " + uuid.NewString()[:8]
	ev := event.Event{
		ID: uuid.NewString(), Type: event.StageChanged, Entity: "opportunity",
		Timestamp: "2026-03-31T14:30:00Z", Workspace: "stack-ui-" + uuid.NewString()[:6],
		Record:  event.Values(map[string]any{"id": "opp-7", "name": name, "amount": 5000}),
		Changes: map[string]event.Change{"stage": event.ChangeOf("proposal", "closed_won")},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := pub.Publish(ctx, workflows.EventInput{Event: ev, Targets: []endpoint.Target{{ID: "t", URL: rc.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, ev.Workspace, []string{ev.ID}, 2*time.Minute)

	page := s.Env["UI_URL"] + "/namespaces/" + url.PathEscape(s.Env["TEMPORAL_NAMESPACE"]) + "/workflows/" +
		url.PathEscape(r.WorkflowID) + "/" + url.PathEscape(r.RunID) + "/history"
	b := browser(t)
	// Before sign-in: the page has loaded the workflow (its ID is shown),
	// and the record's name, which is inside the encrypted input, is not.
	step(t, b, "open the workflow before sign-in", chromedp.Navigate(page))
	waitFor(t, b, "the workflow page", `(document.body?.innerText ?? '').includes(`+jsString(r.WorkflowID)+`) && (document.body?.innerText ?? '').includes("Input")`)
	time.Sleep(3 * time.Second) // let the UI's codec calls come back (refused)
	if get(t, b, chromedp.Evaluate[bool](`(document.body?.innerText ?? '').includes(`+jsString(name)+`)`)) {
		shot(t, b, "stack-ui-before-signin")
		t.Fatalf("the record name %q is readable before sign-in: want payloads encrypted without the codec token", name)
	}
	shot(t, b, "stack-ui-before-signin")
	// The UI's codec error says what to do and links the sign-in page.
	signin := s.Env["CODEC_URL"] + "/signin"
	waitFor(t, b, "the link to the codec sign-in", `[...document.querySelectorAll('a')].some(a => a.href === `+jsString(signin)+`) && (document.body?.innerText ?? '').includes("Sign this browser in to the codec")`)
	step(t, b, "sign in with a wrong token", chromedp.Navigate(signin),
		chromedp.SendKeys(css(`#token`), "not-the-token"), chromedp.Submit(css(`#token`)))
	waitFor(t, b, "the refusal", `(document.body?.innerText ?? '').includes("not this deployment's codec token")`)
	step(t, b, "sign in", chromedp.Navigate(signin),
		chromedp.SendKeys(css(`#token`), strings.TrimSpace(string(token))), chromedp.Submit(css(`#token`)))
	waitFor(t, b, "signed in", `(document.body?.innerText ?? '').includes("Signed in")`)

	step(t, b, "open the workflow after sign-in", chromedp.Navigate(page))
	waitFor(t, b, "the decoded input", `(document.body?.innerText ?? '').includes(`+jsString(name)+`)`)
	shot(t, b, "stack-ui-after-signin")
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// A Ctrl-C in the terminal signals the foreground process group: it must
// reach the script alone, whose cleanup stops the parts in order (workers
// first, so their results reach a server still running), not every part
// at the same moment.
func TestStackCtrlCReachesOnlyTheScript(t *testing.T) {
	s := needStack(t)
	script := s.ProcessGroup()
	parts := []string{"worker1", "worker2", "temporal", "redis", "ui"}
	for _, name := range parts {
		pid, err := s.PID(name)
		if err != nil {
			t.Fatal(err)
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			t.Fatalf("%s (pid %d): %v", name, pid, err)
		}
		if pgid == script {
			t.Errorf("%s (pid %d) is in the script's process group %d: a Ctrl-C would stop it at once, want a group of its own", name, pid, script)
		}
	}
	pg, err := s.PostgresPID()
	if err != nil {
		t.Fatal(err)
	}
	if pgid, err := syscall.Getpgid(pg); err != nil || pgid == script {
		t.Errorf("PostgreSQL (pid %d): process group %d (%v), want one other than the script's %d", pg, pgid, err, script)
	}
}

// Ctrl-C (once, or twice while the stack stops) and a closed terminal
// (SIGHUP) each leave no part of the stack running: every supervised part
// and PostgreSQL are gone when the script has exited.
func TestStackCtrlCStopsEverything(t *testing.T) {
	needStack(t)
	for _, tt := range []struct {
		name string
		sigs []syscall.Signal
		// stuck, when set, is a part frozen (SIGSTOP) before the signal:
		// a part that never finishes its shutdown. STACK_STOP_GRACE
		// kills it after 5 s.
		stuck string
	}{
		{"Ctrl-C", []syscall.Signal{syscall.SIGINT}, ""},
		{"Ctrl-C twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, ""},
		{"terminal closed", []syscall.Signal{syscall.SIGHUP}, ""},
		{"Ctrl-C with a part stuck in its shutdown", []syscall.Signal{syscall.SIGINT}, "worker1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			opts := devtest.StackOptions{Prefix: "stack-stop-"}
			if tt.stuck != "" {
				opts.Env = []string{"STACK_STOP_GRACE=5"}
			}
			s, err := devtest.StartStackWith(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
			parts := map[string]int{}
			for _, name := range []string{"worker1", "worker2", "ui", "temporal", "redis"} {
				if parts[name], err = s.PID(name); err != nil {
					t.Fatal(err)
				}
			}
			if parts["postgres"], err = s.PostgresPID(); err != nil {
				t.Fatal(err)
			}
			if tt.stuck != "" {
				if err := syscall.Kill(parts[tt.stuck], syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			}
			for i, sig := range tt.sigs {
				if i > 0 {
					time.Sleep(300 * time.Millisecond) // while the first one's cleanup runs
				}
				if err := s.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			if !s.WaitExited(2 * time.Minute) {
				var still []string
				for name, pid := range parts {
					if running(pid) {
						still = append(still, fmt.Sprintf("%s (pid %d)", name, pid))
					}
				}
				out, _ := os.ReadFile(filepath.Join(s.Dir, "stack.out"))
				if len(out) > 1500 {
					out = out[len(out)-1500:]
				}
				t.Fatalf("scripts/stack.sh still runs 2 minutes after %s; parts still running: %v; its output ends:\n%s\nworker1: %s\ntemporal: %s",
					tt.name, still, out, s.Log("worker1"), s.Log("temporal"))
			}
			deadline := time.Now().Add(30 * time.Second)
			for name, pid := range parts {
				for running(pid) && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if running(pid) {
					t.Errorf("%s (pid %d) still runs after %s: want every part stopped", name, pid, tt.name)
				}
			}
		})
	}
}

// running reports whether pid is a live process (not gone, not a zombie
// left for its new parent to reap).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
