package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/settings"
	"github.com/hari-crm/webhooks/signature"
)

// browser starts headless Chromium (Debian's, or $CHROMIUM_PATH).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("chromium not found at %s (install Debian's chromium, or set CHROMIUM_PATH): %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action allocates the browser on this context, which must
	// not carry a timeout: steps derive their own limits from it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// step runs browser actions with a time limit, saving a screenshot when
// they fail.
func step(t *testing.T, ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		shot(t, ctx, "failed-"+strings.ReplaceAll(name, " ", "-"))
		t.Fatalf("%s: %v", name, err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		shot(t, ctx, "failed-read")
		t.Fatalf("read from the page: %v", err)
	}
	return v
}

type css = chromedp.CSS

func TestSettingsPageInBrowser(t *testing.T) {
	t.Parallel()
	longBody := strings.Repeat("0123456789", 120) // 1,200 characters
	// Attempts after the first of a real delivery wait for release, so the
	// page can be seen showing the delivery pending however slow the
	// machine (HARi cuts a held attempt at 15 s and retries).
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	rc := devtest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get(signature.HeaderID), "test-") {
			time.Sleep(800 * time.Millisecond) // long enough to see the button busy
			_, _ = w.Write([]byte(longBody))
			return
		}
		if r.Header.Get(signature.HeaderAttempt) == "1" {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"maintenance"}`))
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", (&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys, Bodies: tc}).Handler())
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: "http://localhost:8233", Namespace: "default"}))
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	ws := "ui-" + uuid.NewString()[:8]
	tok := workspaceToken(t, ws)
	// The link HARi (or make run) hands out: the token in the fragment.
	page := site.URL + "/settings/webhooks?workspace=" + ws + "#token=" + tok
	ctx := browser(t)
	C := func(sel string) css { return css(sel) }

	step(t, ctx, "open the page", chromedp.Navigate(page), chromedp.WaitVisible(C(`body[data-ready="true"]`)), chromedp.WaitVisible(C(`#empty`)))
	if loc := get(t, ctx, chromedp.Evaluate[string](`location.href`)); strings.Contains(loc, "token") || strings.Contains(loc, "#") {
		t.Errorf("address bar after opening: got %q, want the token taken out", loc)
	}
	if kept := get(t, ctx, chromedp.Evaluate[string](`sessionStorage.getItem("hari.apiToken") || ""`)); kept != tok {
		t.Errorf("sessionStorage holds %q, want the token from the link", kept)
	}

	// The form refuses an http:// URL, with the API's reason next to the field.
	step(t, ctx, "submit an http URL",
		chromedp.Click(C(`#new-btn`)),
		chromedp.WaitVisible(C(`#editor`)),
		chromedp.SendKeys(C(`#f-name`), "ERP sync"),
		chromedp.Click(C(`#f-events input[value="stage.changed"]`)),
		chromedp.Click(C(`#add-cond`)),
		choose(`#f-conditions .c-field`, "stage"),
		choose(`#f-conditions .c-op`, "changed_to"),
	)
	// The guided builder: event types in words, the entity's fields and
	// stages to pick from (a lead has others than an opportunity).
	if evs := get(t, ctx, chromedp.Text(C(`#f-events`))); !strings.Contains(evs, "Stage changed: an opportunity or lead moved to another stage") {
		t.Errorf("event choices: got %q, want labels with descriptions", evs)
	}
	options := func(sel string) string {
		return get(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('`+sel+`')].map((o) => o.value || o.textContent).join(",")`))
	}
	if got := options(`#f-conditions select.c-value option`); got != "Qualification,Proposal,Negotiation,Closed Won,Closed Lost" {
		t.Errorf("stage values of an opportunity: got %q", got)
	}
	step(t, ctx, "a lead", choose(`#f-entity`, "lead"))
	if got := options(`#f-conditions select.c-value option`); !strings.Contains(got, "Qualified") || strings.Contains(got, "Closed Won") {
		t.Errorf("stage values of a lead: got %q, want the lead's stages", got)
	}
	if got := options(`#f-fields input`); !strings.Contains(got, "source") || strings.Contains(got, "amount") {
		t.Errorf("fields of a lead: got %q, want the lead's fields", got)
	}
	step(t, ctx, "fill the form",
		choose(`#f-entity`, "opportunity"),
		choose(`#f-conditions .c-value`, "Closed Won"),
		chromedp.SendKeys(C(`#f-url`), "http://127.0.0.1/hook"),
		chromedp.Click(C(`#f-fields input[value="name"]`)),
		chromedp.Click(C(`#f-fields input[value="amount"]`)),
		chromedp.Click(C(`#f-fields input[value="owner"]`)),
		chromedp.SendKeys(C(`#f-secret`), "hari_browser_secret"),
		chromedp.Click(C(`#save-btn`)),
		chromedp.WaitVisible(C(`#err-url:not(:empty)`)),
	)
	urlErr := get(t, ctx, chromedp.Text(C(`#err-url`)))
	invalid := get(t, ctx, chromedp.AttributeValue(C(`#f-url`), "aria-invalid"))
	if !strings.Contains(urlErr, "https") || !invalid.Exists {
		t.Errorf("http URL: message %q, aria-invalid %v; want the https rule next to the field", urlErr, invalid.Exists)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr.hook').length`)); n != 0 {
		t.Errorf("a refused form created %d rows", n)
	}
	shot(t, ctx, "01-form-http-refused")
	if sum := get(t, ctx, chromedp.Text(C(`#trigger-summary`))); sum != "When an opportunity's stage changes to Closed Won → POST name, amount, owner to http://127.0.0.1/…" {
		t.Errorf("summary line: got %q", sum)
	}
	step(t, ctx, "the builder's top", chromedp.Evaluate[chromedp.Void](`document.querySelector("#editor").scrollTop = 0`))
	shot(t, ctx, "01c-trigger-builder")
	step(t, ctx, "the builder narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond), chromedp.Evaluate[chromedp.Void](`document.querySelector("#editor").scrollTop = 0`))
	noSidewaysScroll(t, ctx, "the trigger builder at 390 px")
	shot(t, ctx, "01d-trigger-builder-390")
	step(t, ctx, "the builder wide", chromedp.EmulateViewport(1280, 1000))

	// The form previews the request as the fields are chosen: the
	// selected fields only, realistic values, the signature headers.
	waitFor(t, ctx, "the form's payload preview", `(() => { const b = document.querySelector('#form-preview [data-test="form-preview-body"]'), h = document.querySelector('#form-preview [data-test="form-preview-headers"]'); return !!b && b.textContent.includes('"owner": "Vincent"') && h.textContent.includes("X-Webhook-Signature") })()`)
	preview := get(t, ctx, chromedp.TextContent(C(`#form-preview [data-test="form-preview-body"]`)))
	for _, want := range []string{`"name": "Acme Corp – 200 seats"`, `"amount": 48000`, `"owner": "Vincent"`, `"entity": "opportunity"`} {
		if !strings.Contains(preview, want) {
			t.Errorf("form preview body %q lacks %s", preview, want)
		}
	}
	if strings.Contains(preview, `"email"`) {
		t.Errorf("form preview body %q has email, want only the selected fields", preview)
	}
	heads := get(t, ctx, chromedp.Text(C(`#form-preview [data-test="form-preview-headers"]`)))
	for _, want := range []string{"X-Webhook-Signature", "X-Webhook-Secret", "Webhook-Signature", "X-Webhook-Event\tstage.changed"} {
		if !strings.Contains(heads, want) {
			t.Errorf("form preview headers %q lack %s", heads, want)
		}
	}
	shot(t, ctx, "01a-form-preview")
	step(t, ctx, "form preview narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	shot(t, ctx, "01b-form-preview-390")
	step(t, ctx, "form preview wide again", chromedp.EmulateViewport(1280, 1000), chromedp.Sleep(200*time.Millisecond))

	// Fixed: the webhook is created and listed.
	step(t, ctx, "create the webhook",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-url").value = ""`),
		chromedp.SendKeys(C(`#f-url`), rc.URL+"/hooks"),
		chromedp.Click(C(`#f-secret-header`)), // send only the signature
		chromedp.Click(C(`#save-btn`)),
		chromedp.WaitVisible(C(`tr.hook`)),
	)
	row := get(t, ctx, chromedp.TextContent(C(`tr.hook`))) // the URL's host and path are two boxes
	for _, want := range []string{"ERP sync", rc.URL + "/hooks", `stage changed to "Closed Won"`, "Active", "opportunity: record.updated, stage.changed"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	shot(t, ctx, "02-created")

	// Test fire: busy while running, then status, time and a 500-character preview.
	step(t, ctx, "test fire", chromedp.Click(C(`tr.hook button[data-action="test"]`)))
	busyText := get(t, ctx, chromedp.Text(C(`tr.hook button[data-action="test"]`)))
	disabled := get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('tr.hook button[data-action="test"]').disabled`))
	if busyText != "Testing…" || !disabled {
		t.Errorf("while testing the button reads %q (disabled %v), want Testing… and disabled", busyText, disabled)
	}
	step(t, ctx, "test result", chromedp.WaitVisible(C(`.panel [data-test="status"]`)))
	status := get(t, ctx, chromedp.Text(C(`.panel [data-test="status"]`)))
	timeText := get(t, ctx, chromedp.Text(C(`.panel [data-test="time"]`)))
	body := get(t, ctx, chromedp.TextContent(C(`.panel [data-test="body"]`)))
	if !strings.Contains(status, "HTTP 200") || !strings.Contains(timeText, " ms") {
		t.Errorf("panel: status %q time %q", status, timeText)
	}
	if got := len([]rune(strings.TrimSuffix(body, "…"))); got != 500 {
		t.Errorf("preview shows %d characters, want 500", got)
	}
	shot(t, ctx, "03-test-fire-preview")
	// The box left unchecked: the receiver got the signature, not the secret.
	// The sample reads like an opportunity, not a person.
	for _, h := range rc.Hits() {
		if b := string(h.Body); !strings.Contains(b, `"name":"Acme Corp – 200 seats"`) || strings.Contains(b, "Jane Smith") {
			t.Errorf("test fire body: got %s, want an opportunity's name (Acme Corp – 200 seats), not a person's", b)
		}
		if _, ok := h.Header[signature.HeaderSecret]; ok || !signature.VerifyRequest("hari_browser_secret", h.Header, h.Body) {
			t.Errorf("test fire of a webhook saved with the secret header unchecked: X-Webhook-Secret present %v, signature valid %v; want absent and valid",
				ok, signature.VerifyRequest("hari_browser_secret", h.Header, h.Body))
		}
	}
	step(t, ctx, "show more", chromedp.Click(C(`.panel button[data-action="more"]`)))
	if full := get(t, ctx, chromedp.TextContent(C(`.panel [data-test="body"]`))); full != longBody {
		t.Errorf("Show more revealed %d characters, want the 1,200-character body in full", len(full))
	}
	shot(t, ctx, "04-show-more")
	// The confirmation in the status line clears itself; errors stay.
	waitFor(t, ctx, "the status line to clear", `document.querySelector("#status").textContent === ""`)

	// The Request tab shows what was sent, from the same builder: its body
	// is the receiver's, indented.
	step(t, ctx, "request tab",
		chromedp.Click(C(`.panel button[data-tab="request"]`)),
		chromedp.WaitVisible(C(`.panel [data-test="test-request-body"]`)),
	)
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(get(t, ctx, chromedp.TextContent(C(`.panel [data-test="test-request-body"]`))))); err != nil {
		t.Fatalf("request tab body is not JSON: %v", err)
	}
	if hits := rc.Hits(); len(hits) != 1 || compact.String() != string(hits[0].Body) {
		t.Errorf("request tab body %s, want the body the receiver got (%d requests)", compact.String(), len(hits))
	} else if line := get(t, ctx, chromedp.Text(C(`.panel [data-test="test-request-line"]`))); line != "POST "+rc.URL+"/hooks" {
		t.Errorf("request line %q, want POST %s/hooks", line, rc.URL)
	}
	if heads := get(t, ctx, chromedp.Text(C(`.panel [data-test="test-request-headers"]`))); strings.Contains(heads, "X-Webhook-Secret") || !strings.Contains(heads, "X-Webhook-Signature") {
		t.Errorf("request headers %q: want the signature and no X-Webhook-Secret (the box was unchecked)", heads)
	}
	shot(t, ctx, "04a-request-tab")
	step(t, ctx, "request tab narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	shot(t, ctx, "04b-request-tab-390")
	step(t, ctx, "back to the response tab", chromedp.EmulateViewport(1280, 1000), chromedp.Click(C(`.panel button[data-tab="response"]`)), chromedp.WaitVisible(C(`.panel [data-test="body"]`)))

	// The panel is the persisted result: it survives a reload.
	step(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(C(`body[data-ready="true"]`)), chromedp.WaitVisible(C(`.panel [data-test="status"]`)))
	if status := get(t, ctx, chromedp.Text(C(`.panel [data-test="status"]`))); !strings.Contains(status, "HTTP 200") {
		t.Errorf("after reload: %q", status)
	}
	shot(t, ctx, "05-after-reload")

	// A registry ended from outside: the next page load brings it back
	// with its webhooks and the kept result (list and result load at once).
	terminateRegistry(t, ws)
	step(t, ctx, "reload after the registry was terminated", chromedp.Reload(), chromedp.WaitVisible(C(`body[data-ready="true"]`)), chromedp.WaitVisible(C(`.panel [data-test="status"]`)))
	if status := get(t, ctx, chromedp.Text(C(`.panel [data-test="status"]`))); !strings.Contains(status, "HTTP 200") {
		t.Errorf("after the registry was terminated and the page reloaded: %q, want the kept HTTP 200 result", status)
	}
	if st, _ := registryRun(t, ws); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("after the page reload: registry %s, want running", st)
	}

	// Dismiss removes it, and it stays gone after a reload.
	step(t, ctx, "dismiss",
		chromedp.Click(C(`.panel button[data-action="dismiss"]`)),
		chromedp.WaitNotVisible(C(`tr.panel-row`)),
		chromedp.Reload(), chromedp.WaitVisible(C(`body[data-ready="true"]`)),
	)
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr.panel-row:not([hidden])').length`)); n != 0 {
		t.Errorf("%d panels visible after dismiss and reload, want 0", n)
	}

	// Moving the webhook with the secret field empty: the form says the
	// secret is needed again, next to the field, and sends nothing.
	step(t, ctx, "move the URL without the secret",
		chromedp.Click(C(`tr.hook button[data-action="menu"]`)),
		chromedp.Click(C(`tr.hook [role="menu"] button[data-action="edit"]`)),
		chromedp.WaitVisible(C(`#editor`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-url").value = ""`),
		chromedp.SendKeys(C(`#f-url`), rc.URL+"/moved"),
		chromedp.Click(C(`#save-btn`)),
		chromedp.WaitVisible(C(`#err-secret:not(:empty)`)),
	)
	if msg := get(t, ctx, chromedp.Text(C(`#err-secret`))); !strings.Contains(msg, "Changing the URL requires the secret again") {
		t.Errorf("moving the URL without the secret: message %q, want it to ask for the secret again", msg)
	}
	// Edit opens a modal drawer over the list, not a form at the bottom.
	if modal := get(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#editor").matches("dialog[open]:modal")`)); !modal {
		t.Error("Edit: got no modal drawer, want the form in a drawer over the list")
	}
	shot(t, ctx, "05a-edit-drawer")
	step(t, ctx, "edit drawer narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	noSidewaysScroll(t, ctx, "edit drawer at 390 px")
	shot(t, ctx, "05b-edit-drawer-390")
	step(t, ctx, "cancel the move", chromedp.EmulateViewport(1280, 1000), chromedp.Click(C(`#cancel-btn`)), chromedp.WaitNotVisible(C(`#editor`)))
	if f := get(t, ctx, chromedp.Evaluate[string](`document.activeElement.dataset.action || ""`)); f != "menu" {
		t.Errorf("after closing the drawer focus is on %q, want the row's menu button it was opened from", f)
	}
	if row := get(t, ctx, chromedp.TextContent(C(`tr.hook`))); !strings.Contains(row, rc.URL+"/hooks") || strings.Contains(row, "/moved") {
		t.Errorf("after the refused move the row reads %q, want the URL unchanged", row)
	}

	// Signing secret: the drawer says what is set and that the secret itself
	// is not sent (the box was unchecked); Rotate makes a whsec_ secret,
	// shown once to copy; the README's verification code sits next to it.
	step(t, ctx, "edit for the secret", chromedp.Click(C(`tr.hook button[data-action="menu"]`)), chromedp.Click(C(`tr.hook [role="menu"] button[data-action="edit"]`)), chromedp.WaitVisible(C(`#editor`)))
	if st := get(t, ctx, chromedp.Text(C(`#secret-state`))); !strings.Contains(st, "Set (********") || !strings.Contains(st, "The secret itself is never sent, only signatures.") {
		t.Errorf("secret state: got %q, want the masked secret and that the secret itself is not sent", st)
	}
	if b := get(t, ctx, chromedp.Text(C(`#gen-secret`))); b != "Rotate secret" {
		t.Errorf("secret button: got %q, want Rotate secret for a webhook with a secret", b)
	}
	step(t, ctx, "rotate the secret",
		chromedp.Click(C(`#gen-secret`)),
		chromedp.WaitVisible(C(`#secret-reveal`)),
		chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = async (text) => { window.copied = text; }`),
		chromedp.Click(C(`#copy-secret`)),
	)
	newSecret := get(t, ctx, chromedp.Text(C(`#secret-value`)))
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`).MatchString(newSecret) {
		t.Errorf("generated secret: got %q, want whsec_ and base64 of 32 bytes", newSecret)
	}
	waitFor(t, ctx, "the secret to be copied", `window.copied === document.querySelector("#f-secret").value && window.copied === document.querySelector("#secret-value").textContent`)
	if note := get(t, ctx, chromedp.Text(C(`#rotate-note`))); !strings.Contains(note, "for 24 hours after you save, each request is also signed with the old secret") {
		t.Errorf("rotation note: got %q, want the 24 h grace explained", note)
	}
	step(t, ctx, "verification code", chromedp.Click(C(`#snippets summary`)), chromedp.WaitVisible(C(`#snippets [data-test="snippet-go"]`)),
		chromedp.Click(C(`#snippets button[data-tab="node"]`)), chromedp.WaitVisible(C(`#snippets [data-test="snippet-node"]`)))
	if code := get(t, ctx, chromedp.TextContent(C(`#snippets [data-test="snippet-node"]`))); !strings.Contains(code, "function verifyStandard(secret, headers, rawBody") {
		t.Errorf("Node.js snippet: got %q, want the README's verifyStandard", code)
	}
	if w := get(t, ctx, chromedp.Evaluate[[]int](`[document.querySelector("#editor").scrollWidth, document.querySelector("#editor").clientWidth]`)); w[0] > w[1] {
		t.Errorf("the drawer at 1280 px: scrollWidth %d > clientWidth %d, want no sideways scroll inside it", w[0], w[1])
	}
	shot(t, ctx, "05c-secret-rotate")
	step(t, ctx, "secret narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	noSidewaysScroll(t, ctx, "the signing secret at 390 px")
	if w := get(t, ctx, chromedp.Evaluate[[]int](`[document.querySelector("#editor").scrollWidth, document.querySelector("#editor").clientWidth]`)); w[0] > w[1] {
		t.Errorf("the drawer at 390 px: scrollWidth %d > clientWidth %d, want no sideways scroll inside it", w[0], w[1])
	}
	shot(t, ctx, "05d-secret-rotate-390")
	step(t, ctx, "save the rotation", chromedp.EmulateViewport(1280, 1000), chromedp.Click(C(`#save-btn`)), chromedp.WaitNotVisible(C(`#editor`)))
	waitFor(t, ctx, "the list to be rebuilt", `!document.body.dataset.loading`)
	if left := get(t, ctx, chromedp.Text(C(`#secret-value`))); left != "" {
		t.Errorf("after saving, the page still holds the secret %q, want it shown only once", left)
	}
	lastTestHit := func() devtest.Hit {
		t.Helper()
		hits := rc.Hits()
		if len(hits) == 0 {
			t.Fatal("receiver got nothing")
		}
		return hits[len(hits)-1]
	}
	fire := func(name string) devtest.Hit {
		t.Helper()
		n := len(rc.Hits())
		step(t, ctx, name, chromedp.Click(C(`tr.hook button[data-action="test"]`)))
		waitFor(t, ctx, name+" to answer", `!document.querySelector('tr.hook button[data-action="test"]').disabled`)
		if len(rc.Hits()) != n+1 {
			t.Fatalf("%s: receiver got %d requests, want 1", name, len(rc.Hits())-n)
		}
		return lastTestHit()
	}
	h := fire("test fire after the rotation")
	if !signature.VerifyRequest(newSecret, h.Header, h.Body) || signature.VerifyStandard(newSecret, h.Header, h.Body, time.Hour, time.Now()) != nil ||
		signature.VerifyStandard("hari_browser_secret", h.Header, h.Body, time.Hour, time.Now()) != nil {
		t.Errorf("after rotating: X-Webhook-Signature with the new secret %v, webhook-signature with new %v and old %v; want all valid (grace)",
			signature.VerifyRequest(newSecret, h.Header, h.Body), signature.VerifyStandard(newSecret, h.Header, h.Body, time.Hour, time.Now()), signature.VerifyStandard("hari_browser_secret", h.Header, h.Body, time.Hour, time.Now()))
	}
	// Remove it: requests are then unsigned.
	step(t, ctx, "remove the secret", chromedp.Click(C(`tr.hook button[data-action="menu"]`)), chromedp.Click(C(`tr.hook [role="menu"] button[data-action="edit"]`)), chromedp.WaitVisible(C(`#editor`)),
		chromedp.Click(C(`#f-secret-remove`)))
	if st := get(t, ctx, chromedp.Text(C(`#secret-state`))); !strings.Contains(st, "will be removed when you save") {
		t.Errorf("secret state after ticking Remove: got %q", st)
	}
	step(t, ctx, "save the removal", chromedp.Click(C(`#save-btn`)), chromedp.WaitNotVisible(C(`#editor`)))
	waitFor(t, ctx, "the list to be rebuilt", `!document.body.dataset.loading`)
	h = fire("test fire after the removal")
	for _, name := range []string{signature.HeaderSignature, signature.HeaderSecret, signature.HeaderStdSignature} {
		if v := h.Header.Get(name); v != "" {
			t.Errorf("after removing the secret: %s = %q, want it absent", name, v)
		}
	}
	step(t, ctx, "dismiss the secret tests", chromedp.Click(C(`tr.panel-row:not([hidden]) button[data-action="dismiss"]`)), chromedp.WaitNotVisible(C(`tr.panel-row`)))

	// A closed port: the error shows in red, with words, not colour alone.
	l, _ := devtest.FreeAddr()
	const longPath = "/webhooks/hari/crm/opportunities/closed-won/erp-sync-endpoint"
	step(t, ctx, "closed port webhook",
		chromedp.Click(C(`#new-btn`)),
		chromedp.SendKeys(C(`#f-name`), "Closed port: the ERP's old endpoint"),
		chromedp.SendKeys(C(`#f-url`), "https://"+l+longPath),
		chromedp.Click(C(`#save-btn`)),
		chromedp.WaitVisible(C(`tr.hook[data-id]:nth-of-type(4)`)),
		chromedp.Click(C(`tr.hook:nth-of-type(4) button[data-action="test"]`)),
		chromedp.WaitVisible(C(`.panel [data-test="error"]`)),
	)
	// In plain language with a next step, the real duration, and the raw
	// error behind a disclosure.
	_, port, _ := strings.Cut(l, ":")
	errText := get(t, ctx, chromedp.Text(C(`.panel [data-test="error"] .problem`)))
	color := get(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.panel [data-test="error"]')).color`))
	if want := "Couldn't connect to 127.0.0.1 on port " + port + ": nothing is listening. Check the URL and that your server is running."; errText != want || color != "rgb(179, 38, 30)" {
		t.Errorf("closed port: got %q in colour %s, want %q in red", errText, color, want)
	}
	if line := get(t, ctx, chromedp.Text(C(`.panel [data-test="error"]`))); !strings.HasPrefix(line, "Error:") || strings.Contains(line, "dial tcp") {
		t.Errorf("closed port: error line %q, want it to start with Error: and keep the raw error folded away", line)
	}
	raw := get(t, ctx, chromedp.Evaluate[string](`(() => { const d = document.querySelector('.panel [data-test="error"] details'); return d && !d.open ? d.querySelector("code").textContent : "" })()`))
	if !strings.Contains(raw, "connection_refused") || !strings.Contains(raw, "connection refused") {
		t.Errorf("closed port: technical details %q, want the raw error behind a closed disclosure", raw)
	}
	if tm := get(t, ctx, chromedp.Text(C(`tr.panel-row:not([hidden]) [data-test="time"]`))); !strings.HasPrefix(tm, "Failed after ") || strings.HasPrefix(tm, "After") {
		t.Errorf("closed port: time %q, want Failed after <real duration>", tm)
	}
	if conds := get(t, ctx, chromedp.Text(C(`tr.hook:nth-of-type(4) td[data-label="Conditions"]`))); conds != "None: every opportunity event above" {
		t.Errorf("no conditions: got %q, want None: every opportunity event above", conds)
	}
	shot(t, ctx, "06-closed-port-error")

	// Layout: Test fire is the primary action, Edit, Deactivate and Delete
	// wait in the overflow menu, the actions fit on one line, and a long
	// URL is cut with an ellipsis (its full text in the title) and copied
	// whole.
	layout := get(t, ctx, chromedp.Evaluate[map[string]any](`(() => {
		const row = document.querySelector('tr.hook:nth-of-type(4)');
		const acts = row.querySelector('.row-actions');
		const url = row.querySelector('code.url'), path = row.querySelector('[data-test="url-path"]');
		const visible = [...acts.querySelectorAll('button')].filter((b) => b.offsetParent !== null).map((b) => b.dataset.action);
		return { visible: visible.join(","), primary: row.querySelector('button[data-action="test"]').classList.contains('primary'),
			oneLine: acts.getBoundingClientRect().height < 2 * row.querySelector('button[data-action="test"]').getBoundingClientRect().height,
			cut: path.scrollWidth > path.clientWidth, title: url.title };
	})()`))
	if layout["visible"] != "test,log,menu" || layout["primary"] != true || layout["oneLine"] != true {
		t.Errorf("row actions: got %v, want Test fire (primary), Delivery log and the menu button on one line", layout)
	}
	noSidewaysScroll(t, ctx, "the list at 1280 px with a long URL and name")
	if layout["cut"] != true || layout["title"] != "https://"+l+longPath {
		t.Errorf("long URL: got cut %v title %v, want an ellipsis with the full URL in the title", layout["cut"], layout["title"])
	}
	step(t, ctx, "open the overflow menu", chromedp.Click(C(`tr.hook:nth-of-type(4) button[data-action="menu"]`)), chromedp.WaitVisible(C(`tr.hook:nth-of-type(4) [role="menu"]`)))
	items := get(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('tr.hook:nth-of-type(4) [role="menu"] [role="menuitem"]')].map((b) => b.textContent).join(",") + "|" + document.activeElement.textContent`))
	if items != "Edit,Deactivate,Delete|Edit" {
		t.Errorf("overflow menu: got %q, want Edit,Deactivate,Delete with focus on Edit", items)
	}
	shot(t, ctx, "06a-overflow-menu")
	step(t, ctx, "Escape closes the menu", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(C(`tr.hook:nth-of-type(4) [role="menu"]`)))
	// Headless Chromium grants no clipboard: record what the page hands
	// to the Clipboard API instead.
	step(t, ctx, "copy the URL",
		chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = async (text) => { window.copied = text; }`),
		chromedp.Click(C(`tr.hook:nth-of-type(4) button[data-action="copy-url"]`)),
	)
	waitFor(t, ctx, "the copy to be confirmed", `document.querySelector("#status").textContent.startsWith("Copied the URL")`)
	if got := get(t, ctx, chromedp.Evaluate[string](`window.copied || ""`)); got != "https://"+l+longPath {
		t.Errorf("Copy: got %q on the clipboard, want the full URL", got)
	}

	// The delivery log shows a real delivery's attempts, linked to the Web UI.
	var receipt struct {
		EventID string `json:"event_id"`
	}
	c := &apiClient{t: t, srv: site, ws: ws, token: tok}
	if code, b := c.do("POST", c.events(), oppEvent(ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, b)
	}
	// Under way: attempt 1 failed, attempt 2 is held by the receiver. The
	// log shows it pending with its next retry, then refreshes by itself.
	step(t, ctx, "delivery log while pending",
		chromedp.Reload(), chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.Click(C(`tr.hook button[data-action="log"]`)),
		chromedp.WaitVisible(C(`.log li.delivery[data-status="pending"] [data-test="next-retry"]`)),
	)
	if next := get(t, ctx, chromedp.Text(C(`.log li.delivery [data-test="next-retry"]`))); !strings.HasPrefix(next, "next retry at ") {
		t.Errorf("pending delivery: got %q, want next retry at <time>", next)
	}
	shot(t, ctx, "07a-delivery-pending")
	releaseOnce.Do(func() { close(release) })
	if _, err := pub.Wait(context.Background(), ws, receipt.EventID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the log to show the delivery delivered without a reload", `!!document.querySelector('.log li.delivery[data-status="delivered"]')`)
	attempts := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('.log li.delivery tr.attempt').length`))
	href := get(t, ctx, chromedp.AttributeValue(C(`.log li.delivery a`), "href"))
	logText := get(t, ctx, chromedp.Text(C(`.log li.delivery`)))
	// Attempt 2 is held until the page was seen: on a slow machine HARi
	// may cut it at 15 s and deliver on attempt 3, so the last is the 200.
	first := get(t, ctx, chromedp.Text(C(`.log li.delivery tr.attempt:first-child`)))
	last := get(t, ctx, chromedp.Text(C(`.log li.delivery tr.attempt:last-child`)))
	if attempts < 2 || !strings.Contains(first, "HTTP 503") || !strings.Contains(last, "HTTP 200") || !strings.Contains(logText, "delivered") {
		t.Errorf("log: %d attempts, first %q, last %q; want #1 HTTP 503 and the last HTTP 200, delivered", attempts, first, last)
	}
	// The workflow ID "webhook-event:<ws>:<id>", encoded as one path segment.
	if want := "http://localhost:8233/namespaces/default/workflows/webhook-event%3A" + ws + "%3A" + receipt.EventID + "/"; !strings.HasPrefix(href.Value, want) {
		t.Errorf("log link %q, want %s...", href.Value, want)
	}
	shot(t, ctx, "07-delivery-log")

	// Each attempt's request headers and kept response.
	step(t, ctx, "open attempt 1's request and response", chromedp.Click(C(`.log tr.attempt details.exchange summary`)))
	ex := get(t, ctx, chromedp.Text(C(`.log tr.attempt details.exchange`)))
	for _, want := range []string{"Request: POST " + rc.URL + "/hooks", "X-Webhook-Attempt\t1", "X-Webhook-Id\t" + receipt.EventID + ":", "Response: HTTP 503", "Retry-After\t1", `{"error":"maintenance"}`} {
		if !strings.Contains(ex, want) {
			t.Errorf("attempt 1's exchange %q lacks %q", ex, want)
		}
	}
	// Titled with the record's name and ID, and the body each attempt sent
	// (read from the event's workflow).
	waitFor(t, ctx, "the record's name in the log", `document.querySelector(".log li.delivery .record-title").textContent === "Acme renewal · opp-9"`)
	waitFor(t, ctx, "the request body in the log", `document.querySelector(".log tr.attempt .req-body").textContent.includes('"name": "Acme renewal"')`)
	shot(t, ctx, "07b-attempt-exchange")
	step(t, ctx, "attempt exchange narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	noSidewaysScroll(t, ctx, "the delivery log at 390 px")
	shot(t, ctx, "07c-delivery-log-390")
	step(t, ctx, "wide again", chromedp.EmulateViewport(1280, 1000))

	// Filters: by status, by event type (applied by the server); the count
	// says what is shown.
	filter := func(name, sel, value, want string) {
		t.Helper()
		step(t, ctx, "filter "+name, chromedp.SetValue(C(`.log select[data-filter="`+sel+`"]`), value),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('.log select[data-filter="`+sel+`"]').dispatchEvent(new Event("change"))`))
		waitFor(t, ctx, "the count after filter "+name+" to read "+want, `document.querySelector(".log .pager .count").textContent === `+strconv.Quote(want))
	}
	filter("failed", "status", "failed", "No deliveries match these filters.")
	filter("delivered", "status", "delivered", "Page 1: 1 delivery matching the filters")
	filter("record.created", "type", "record.created", "No deliveries match these filters.")
	filter("stage.changed", "type", "stage.changed", "Page 1: 1 delivery matching the filters")
	// Relative times keep updating.
	before := get(t, ctx, chromedp.Text(C(`.log .ago`)))
	waitFor(t, ctx, "the relative time to update", `document.querySelector(".log .ago").textContent !== `+strconv.Quote(before))

	// With nothing pending, the open log still refreshes: a new event's
	// delivery appears without a reload.
	filter("any status", "status", "", "Page 1: 1 delivery matching the filters")
	filter("any type", "type", "", "Page 1: 1 delivery")
	if code, b := c.do("POST", c.events(), strings.Replace(oppEvent(ws, "Closed Won"), "2026-03-31T14:30:00Z", "2026-03-31T15:00:00Z", 1), nil); code != http.StatusAccepted {
		t.Fatalf("publish a second event: %d %s", code, b)
	}
	waitFor(t, ctx, "the open log to show the second delivery without a reload", `document.querySelectorAll(".log li.delivery").length === 2`)

	// Deactivate; a narrow window; delete with confirmation.
	step(t, ctx, "deactivate", chromedp.Click(C(`tr.hook button[data-action="menu"]`)), chromedp.Click(C(`tr.hook [role="menu"] button[data-action="toggle"]`)), chromedp.WaitVisible(C(`tr.hook .badge.off`)))
	if badge := get(t, ctx, chromedp.Text(C(`tr.hook .badge.off`))); badge != "Inactive" {
		t.Errorf("badge %q, want Inactive", badge)
	}
	// The table was rebuilt: focus is back on the row's menu button.
	waitFor(t, ctx, "focus back on the row's menu button after Deactivate", `document.activeElement.dataset.action === "menu" && document.activeElement.closest("tr.hook") !== null`)
	// Test fire of an inactive webhook says that real events do not send.
	step(t, ctx, "test fire while inactive",
		chromedp.Click(C(`tr.hook button[data-action="test"]`)),
		chromedp.WaitVisible(C(`tr.panel-row:not([hidden]) [data-test="inactive"]`)),
	)
	if note := get(t, ctx, chromedp.Text(C(`tr.panel-row:not([hidden]) [data-test="inactive"]`))); !strings.Contains(note, "inactive: real events do not send to it") {
		t.Errorf("inactive test fire: note %q, want it to say real events do not send", note)
	}
	step(t, ctx, "narrow window", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	noSidewaysScroll(t, ctx, "the list at 390 px")
	if gap := get(t, ctx, chromedp.Evaluate[float64](`(() => { const r = document.querySelector('tr.hook .row-actions'); const [a, b] = [...r.querySelectorAll(':scope > button')].map((x) => x.getBoundingClientRect()); return a.top === b.top ? b.left - a.right : 99 })()`)); gap < 4 {
		t.Errorf("card buttons at 390 px: %.1f px apart, want at least 4", gap)
	}
	shot(t, ctx, "08-narrow")
	// The Delete dialog opens on Cancel: Enter does not delete.
	step(t, ctx, "delete, then Enter",
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Click(C(`tr.hook button[data-action="menu"]`)),
		chromedp.Click(C(`tr.hook [role="menu"] button[data-action="delete"]`)),
		chromedp.WaitVisible(C(`#confirm[open]`)),
	)
	if f := get(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`)); f != "confirm-cancel" {
		t.Errorf("Delete dialog: focus on %q, want confirm-cancel", f)
	}
	shot(t, ctx, "08b-delete-dialog")
	step(t, ctx, "Enter cancels", chromedp.KeyEvent("\r"), chromedp.WaitNotPresent(C(`#confirm[open]`)))
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr.hook').length`)); n != 2 {
		t.Errorf("after Enter in the Delete dialog: %d rows, want 2 (nothing deleted)", n)
	}
	step(t, ctx, "delete",
		chromedp.Click(C(`tr.hook button[data-action="menu"]`)),
		chromedp.Click(C(`tr.hook [role="menu"] button[data-action="delete"]`)),
		chromedp.WaitVisible(C(`#confirm[open]`)),
		chromedp.Click(C(`#confirm-ok`)),
		chromedp.WaitNotPresent(C(`#confirm[open]`)),
	)
	waitFor(t, ctx, "one row left after deleting one of two", `document.querySelectorAll("tr.hook").length === 1`)

	// Another workspace with this workspace's token: a clear message, no
	// "no webhooks" claim, no New button. Without a token: a clear message.
	other := "ui-other-" + uuid.NewString()[:6]
	step(t, ctx, "another workspace",
		chromedp.Navigate(site.URL+"/settings/webhooks?workspace="+other),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.WaitVisible(C(`#alert:not(:empty)`)),
	)
	msg := get(t, ctx, chromedp.Text(C(`#alert`)))
	emptyShown := get(t, ctx, chromedp.Evaluate[bool](`!document.querySelector("#empty").hidden`))
	newDisabled := get(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#new-btn").disabled`))
	if !strings.Contains(msg, "do not have access") || !strings.Contains(msg, other) || emptyShown || !newDisabled {
		t.Errorf("another workspace: message %q, empty notice %v, New disabled %v; want the access message naming %s, no notice, New disabled", msg, emptyShown, newDisabled, other)
	}
	shot(t, ctx, "09-forbidden")
	step(t, ctx, "no token",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`),
		chromedp.Navigate(page[:strings.Index(page, "#")]),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
		chromedp.WaitVisible(C(`#alert:not(:empty)`)),
	)
	if msg := get(t, ctx, chromedp.Text(C(`#alert`))); !strings.Contains(msg, "not signed in") {
		t.Errorf("without a token: message %q, want the sign-in message", msg)
	}
	shot(t, ctx, "10-unauthorized")
}

// waitFor polls a JavaScript condition until it holds (up to a minute:
// the machine may be loaded), failing with a screenshot otherwise.
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if get(t, ctx, chromedp.Evaluate[bool](js)) {
			return
		}
		if time.Now().After(deadline) {
			shot(t, ctx, "failed-wait-"+strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// noSidewaysScroll fails when the page is wider than the window.
func noSidewaysScroll(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	sw := get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	cw := get(t, ctx, chromedp.Evaluate[int](`document.documentElement.clientWidth`))
	if sw > cw {
		t.Errorf("%s: page scrollWidth %d > clientWidth %d, want no sideways scroll", where, sw, cw)
	}
}

// choose sets a select's (or an input's) value as a user would: the change
// event bubbles to the form.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SetValue(css(sel), value),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+strconv.Quote(sel)+`).dispatchEvent(new Event("change", { bubbles: true }))`),
	)
}
