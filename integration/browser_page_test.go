package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"

	"github.com/hari-crm/webhooks/api"
	"github.com/hari-crm/webhooks/internal/devtest"
	"github.com/hari-crm/webhooks/settings"
)

// settingsSite serves the API and the Settings page against the shared
// registry and publisher, and returns the page's link for a new
// workspace (the token in the fragment, as HARi hands it out).
func settingsSite(t *testing.T) (*apiClient, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/", (&api.Server{Registry: reg, Publisher: pub, Tokens: apiKeys, Bodies: tc}).Handler())
	mux.Handle("/", settings.Handler(settings.Config{TemporalUI: "http://localhost:8233", Namespace: "default"}))
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	ws := "ui-" + uuid.NewString()[:8]
	tok := workspaceToken(t, ws)
	return &apiClient{t: t, srv: site, ws: ws, token: tok}, site.URL + "/settings/webhooks?workspace=" + ws + "#token=" + tok
}

// createHook creates a webhook through the API.
func createHook(t *testing.T, c *apiClient, spec string) view {
	t.Helper()
	var v view
	if code, b := c.do("POST", c.hooks(), spec, &v); code != http.StatusCreated {
		t.Fatalf("create %s: %d %s", spec, code, b)
	}
	return v
}

// fireOnlyHook is a webhook no opportunity event matches: Test fire only.
func fireOnlyHook(name, url string) string {
	return fmt.Sprintf(`{"name": %q, "entity": "contact", "events": ["record.created"], "url": %q}`, name, url)
}

// viewShot saves what the window shows (a full-page capture lays the page
// out again, and the drawer, which scrolls by itself, loses its place).
func viewShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	buf := get(t, ctx, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(root, "artifacts", "screenshots", name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// drawerTo scrolls the drawer (it scrolls by itself) to an element in it,
// for a screenshot.
func drawerTo(sel string) string {
	return `(() => { const d = document.querySelector("#editor"), e = document.querySelector('` + sel + `'); d.scrollTop += e.getBoundingClientRect().top - d.getBoundingClientRect().top - 80; })()`
}

// liveRegions records, in the page, every change of a live region
// (role=alert, role=status, aria-live) and every live region added to the
// page: what a screen reader would announce.
const liveRegions = `(() => {
	const LIVE = '[role=alert],[role=status],[aria-live]';
	if (window.liveObs) window.liveObs.disconnect();
	window.liveLog = [];
	window.liveObs = new MutationObserver((recs) => {
		for (const r of recs) {
			const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
			const region = t && t.closest(LIVE);
			if (region) window.liveLog.push((region.id || region.className) + ": " + region.textContent);
			for (const n of r.addedNodes) {
				if (n.nodeType !== 1) continue;
				for (const x of [n, ...n.querySelectorAll(LIVE)]) if (x.matches(LIVE) && x !== region) window.liveLog.push("added " + (x.id || x.className) + ": " + x.textContent);
			}
		}
	});
	window.liveObs.observe(document.body, { subtree: true, childList: true, characterData: true });
})()`

// The list, the form and the dialogs as a keyboard and screen reader user
// meets them: a long URL keeps its host readable, the overflow menu works
// with arrow keys, a custom field can be named in a condition, focus
// lands on the row acted on, live regions speak once per change, and the
// Delete dialog does not delete on Enter.
func TestPageListAndFormInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, nil)
	c, page := settingsSite(t)
	const longPath = "/webhooks/hari/crm/opportunities/closed-won/erp-sync-endpoint-for-the-finance-team"
	a := createHook(t, c, fmtURL(closedWon, rc.URL+longPath))
	closed, _ := devtest.FreeAddr()
	b := createHook(t, c, fireOnlyHook("Old ERP endpoint", "https://"+closed+"/hook"))
	rowA := `tr.hook[data-id="` + a.ID + `"]`
	rowB := `tr.hook[data-id="` + b.ID + `"]`

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	step(t, ctx, "open the page", chromedp.Navigate(page), chromedp.WaitVisible(C(`body[data-ready="true"]`)), chromedp.WaitVisible(C(rowA)))

	// A long URL at 1280 px: the scheme and host whole, the path cut.
	u := get(t, ctx, chromedp.Evaluate[map[string]any](`(() => {
		const host = document.querySelector('`+rowA+` [data-test="url-host"]'), path = document.querySelector('`+rowA+` [data-test="url-path"]');
		const text = document.createRange(); text.selectNodeContents(host); // the text's own width, cut or not
		return { host: host.textContent, hostCut: host.scrollWidth > host.clientWidth || text.getBoundingClientRect().width > host.getBoundingClientRect().width + 0.01, hostWidth: host.getBoundingClientRect().width,
			path: path.textContent, pathCut: path.scrollWidth > path.clientWidth, title: host.parentElement.title };
	})()`))
	if u["host"] != rc.URL || u["hostCut"] != false || u["hostWidth"].(float64) <= 0 {
		t.Errorf("URL at 1280 px: host %v (cut %v, %v px wide), want %s shown whole", u["host"], u["hostCut"], u["hostWidth"], rc.URL)
	}
	if u["path"] != longPath || u["pathCut"] != true || u["title"] != rc.URL+longPath {
		t.Errorf("URL at 1280 px: path %v cut %v title %v, want the long path cut with an ellipsis and the full URL in the title", u["path"], u["pathCut"], u["title"])
	}
	noSidewaysScroll(t, ctx, "the list at 1280 px with a long URL")
	step(t, ctx, "copy the URL",
		chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = async (text) => { window.copied = text; }`),
		chromedp.Click(C(rowA+` button[data-action="copy-url"]`)))
	waitFor(t, ctx, "the full URL copied", `window.copied === `+jsString(rc.URL+longPath))
	shot(t, ctx, "40-long-url-1280")
	step(t, ctx, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond))
	noSidewaysScroll(t, ctx, "the list at 390 px with a long URL")
	shot(t, ctx, "40b-long-url-390")
	step(t, ctx, "wide", chromedp.EmulateViewport(1280, 1000), chromedp.Sleep(200*time.Millisecond))

	// The overflow menu by keyboard: Enter opens it on its first item,
	// arrows move and wrap, Escape closes it and returns to its button.
	focused := func() string {
		return get(t, ctx, chromedp.Evaluate[string](`(document.activeElement.dataset.action || document.activeElement.tagName) + (document.activeElement.closest("tr.hook") ? "@" + document.activeElement.closest("tr.hook").dataset.id : "")`))
	}
	step(t, ctx, "open the menu by keyboard", chromedp.Focus(C(rowA+` button[data-action="menu"]`)), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(C(rowA+` [role="menu"]`)))
	var moves []string
	moves = append(moves, focused())
	for _, k := range []string{kb.ArrowDown, kb.ArrowDown, kb.ArrowDown, kb.ArrowUp} {
		step(t, ctx, "arrow key", chromedp.KeyEvent(k))
		moves = append(moves, focused())
	}
	want := strings.Join([]string{"edit@" + a.ID, "toggle@" + a.ID, "delete@" + a.ID, "edit@" + a.ID, "delete@" + a.ID}, ",")
	if got := strings.Join(moves, ","); got != want {
		t.Errorf("menu keys (open, down, down, down, up): focus went %s, want %s", got, want)
	}
	step(t, ctx, "Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(C(rowA+` [role="menu"]`)))
	if f := focused(); f != "menu@"+a.ID {
		t.Errorf("after Escape focus is on %s, want the menu button of its row (menu@%s)", f, a.ID)
	}

	// Edit: a condition on a field outside the catalog ("Other field…").
	step(t, ctx, "edit", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(C(rowA+` [role="menu"]`)), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(C(`#editor`)))
	if opts := get(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#f-conditions .cond:first-child .c-field option')].map((o) => o.textContent).join(",")`)); !strings.HasSuffix(opts, ",Other field…") {
		t.Errorf("condition field choices: got %q, want the catalog's fields and Other field…", opts)
	}
	step(t, ctx, "add a condition on another field",
		chromedp.Click(C(`#add-cond`)),
		choose(`#f-conditions .cond:nth-child(2) .c-field`, "__other__"),
		chromedp.WaitVisible(C(`#f-conditions .cond:nth-child(2) .c-field-other`)),
		chromedp.Click(C(`#save-btn`)),
		chromedp.WaitVisible(C(`#err-conditions:not(:empty)`)),
	)
	if msg := get(t, ctx, chromedp.Text(C(`#err-conditions`))); !strings.Contains(msg, "Name the other field") {
		t.Errorf("a blank other field: message %q, want it to ask for the field's name", msg)
	}
	if inv := get(t, ctx, chromedp.Evaluate[bool](`document.activeElement.matches(".c-field-other[aria-invalid]")`)); !inv {
		t.Error("a blank other field: focus is not on the field name marked invalid")
	}
	var saved struct {
		Conditions []json.RawMessage `json:"conditions"`
	}
	c.do("GET", c.hooks()+"/"+a.ID, "", &saved)
	if len(saved.Conditions) != 1 {
		t.Errorf("a refused form changed the webhook: %d conditions, want 1", len(saved.Conditions))
	}
	step(t, ctx, "name it and save",
		chromedp.SendKeys(C(`#f-conditions .cond:nth-child(2) .c-field-other`), "region"),
		chromedp.SendKeys(C(`#f-conditions .cond:nth-child(2) input.c-value`), "EMEA"),
	)
	if sum := get(t, ctx, chromedp.Text(C(`#trigger-summary`))); !strings.Contains(sum, "region is EMEA") {
		t.Errorf("summary %q, want the custom field's condition in it", sum)
	}
	step(t, ctx, "show the conditions", chromedp.Evaluate[chromedp.Void](drawerTo(`#f-conditions`)))
	viewShot(t, ctx, "41-other-field")
	step(t, ctx, "narrow drawer", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond), chromedp.Evaluate[chromedp.Void](drawerTo(`#f-conditions`)))
	noSidewaysScroll(t, ctx, "the condition builder at 390 px")
	viewShot(t, ctx, "41b-other-field-390")
	step(t, ctx, "wide drawer", chromedp.EmulateViewport(1280, 1000), chromedp.Sleep(200*time.Millisecond))
	step(t, ctx, "save", chromedp.Click(C(`#save-btn`)), chromedp.WaitNotVisible(C(`#editor`)))
	// Focus on the edited row (its menu, where Edit was), not on New.
	waitFor(t, ctx, "focus on the edited row after Save", `document.activeElement.dataset.action === "menu" && document.activeElement.closest("tr.hook") && document.activeElement.closest("tr.hook").dataset.id === `+jsString(a.ID))
	c.do("GET", c.hooks()+"/"+a.ID, "", &saved)
	if cond, _ := json.Marshal(saved.Conditions); len(saved.Conditions) != 2 || !strings.Contains(string(cond), `"field":"region"`) || !strings.Contains(string(cond), `"value":"EMEA"`) || !strings.Contains(string(cond), `"op":"equals"`) {
		t.Errorf("saved conditions %s, want stage changed to Closed Won and region equals EMEA", cond)
	}
	// Round trip: Edit shows it as Other field with its name.
	step(t, ctx, "edit again", chromedp.Click(C(rowA+` button[data-action="menu"]`)), chromedp.Click(C(rowA+` [role="menu"] button[data-action="edit"]`)), chromedp.WaitVisible(C(`#editor`)))
	back := get(t, ctx, chromedp.Evaluate[[]any](`(() => { const r = document.querySelector('#f-conditions .cond:nth-child(2)'); const o = r.querySelector('.c-field-other'); return [r.querySelector('.c-field').value, o.value, o.hidden, r.querySelector('.c-value').value] })()`))
	if back[0] != "__other__" || back[1] != "region" || back[2] != false || back[3] != "EMEA" {
		t.Errorf("Edit of a saved custom-field condition: got field %v, name %v (hidden %v), value %v; want Other field… region EMEA", back[0], back[1], back[2], back[3])
	}

	// The preview of a stage-changed webhook is a stage change; stage not
	// being a chosen field, "changes" is empty and the page says why.
	waitFor(t, ctx, "the form's preview", `(() => { const h = document.querySelector('#form-preview [data-test="form-preview-headers"]'); return !!h && h.textContent.includes("X-Webhook-Event") })()`)
	// One read of the whole preview: it is rebuilt as the form settles.
	pv := get(t, ctx, chromedp.Evaluate[[]string](`(() => { const q = (s) => { const n = document.querySelector('#form-preview [data-test="' + s + '"]'); return n ? n.innerText : "" };
		return [q("form-preview-headers"), document.querySelector('#form-preview [data-test="form-preview-body"]').textContent, q("form-preview-changes-note")] })()`))
	heads, body, note := pv[0], pv[1], pv[2]
	if !strings.Contains(heads, "X-Webhook-Event\tstage.changed") || !strings.Contains(body, `"event": "stage.changed"`) || !strings.Contains(body, `"changes": {}`) {
		t.Errorf("preview of a stage-changed webhook without stage: headers %q body %s; want a stage.changed event whose changes the builder left empty", heads, body)
	}
	if !strings.Contains(note, "leaves out the change of stage") {
		t.Errorf("changes note %q, want it to say the stage change is left out", note)
	}
	step(t, ctx, "show the preview's note", chromedp.Evaluate[chromedp.Void](drawerTo(`#form-preview [data-test="form-preview-body"]`)))
	viewShot(t, ctx, "42-preview-stage-not-sent")
	step(t, ctx, "send the stage", chromedp.Click(C(`#f-fields input[value="stage"]`)))
	waitFor(t, ctx, "the stage change in the preview", `document.querySelector('#form-preview [data-test="form-preview-body"]').textContent.includes('"old": "Negotiation"') && !document.querySelector('#form-preview [data-test="form-preview-changes-note"]')`)
	if body := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#form-preview [data-test="form-preview-body"]').textContent`)); !strings.Contains(body, `"new": "Closed Won"`) {
		t.Errorf("preview with stage sent: %s, want the stage moving to Closed Won", body)
	}
	step(t, ctx, "cancel", chromedp.Click(C(`#cancel-btn`)), chromedp.WaitNotVisible(C(`#editor`)))

	// Activate returns focus to the row's menu (as Deactivate does).
	step(t, ctx, "deactivate", chromedp.Click(C(rowA+` button[data-action="menu"]`)), chromedp.Click(C(rowA+` [role="menu"] button[data-action="toggle"]`)), chromedp.WaitVisible(C(rowA+` .badge.off`)))
	waitFor(t, ctx, "focus on the row's menu after Deactivate", `document.activeElement.dataset.action === "menu" && document.activeElement.closest("tr.hook").dataset.id === `+jsString(a.ID))
	step(t, ctx, "activate", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(C(rowA+` [role="menu"]`)), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(C(rowA+` .badge.on`)))
	waitFor(t, ctx, "focus on the row's menu after Activate", `document.activeElement.dataset.action === "menu" && document.activeElement.closest("tr.hook").dataset.id === `+jsString(a.ID))

	// Live regions: one Test fire failure is announced once; a reload
	// that changes nothing announces nothing.
	step(t, ctx, "test fire the closed port", chromedp.Evaluate[chromedp.Void](liveRegions), chromedp.Click(C(rowB+` button[data-action="test"]`)),
		chromedp.WaitVisible(C(`#panel-`+b.ID+` [data-test="error"]`)))
	waitFor(t, ctx, "the Test fire to end", `!document.querySelector('`+rowB+` button[data-action="test"]').disabled`)
	said := get(t, ctx, chromedp.Evaluate[[]string](`window.liveLog.filter((x) => x.includes("Couldn't connect"))`))
	if len(said) != 1 {
		t.Errorf("one Test fire failure: announced %d times (%q), want once", len(said), said)
	}
	shot(t, ctx, "43-test-fire-failure-announced-once")
	step(t, ctx, "reload the list", chromedp.Evaluate[chromedp.Void](liveRegions), chromedp.Evaluate[chromedp.Void](`load()`, chromedp.EvalAwaitPromise))
	if got := get(t, ctx, chromedp.Evaluate[[]string](`window.liveLog`)); len(got) != 0 {
		t.Errorf("a reload that changed nothing touched live regions %d times (%q), want none", len(got), got)
	}

	// The Delete dialog opens on Cancel, and Enter right away deletes
	// nothing: every request the page made has ended, and the registry
	// still lists the webhook.
	step(t, ctx, "count requests", chromedp.Evaluate[chromedp.Void](`(() => { const f = window.fetch; window.inflight = 0; window.fetch = async (...args) => { window.inflight++; try { return await f(...args); } finally { window.inflight--; } }; })()`))
	step(t, ctx, "open Delete", chromedp.Click(C(rowA+` button[data-action="menu"]`)), chromedp.Click(C(rowA+` [role="menu"] button[data-action="delete"]`)), chromedp.WaitVisible(C(`#confirm[open]`)))
	if f := get(t, ctx, chromedp.Evaluate[string](`document.activeElement.id + "|" + document.activeElement.textContent`)); f != "confirm-cancel|Cancel" {
		t.Errorf("Delete dialog: focus on %q, want the Cancel button", f)
	}
	step(t, ctx, "Enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitNotPresent(C(`#confirm[open]`)))
	time.Sleep(300 * time.Millisecond)
	waitFor(t, ctx, "the page's requests to end", `window.inflight === 0 && !document.body.dataset.loading`)
	list, err := reg.List(context.Background(), c.ws)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, v := range list {
		kept = kept || v.ID == a.ID
	}
	if !kept || len(list) != 2 {
		t.Errorf("after Enter in the Delete dialog the registry lists %d webhooks (%s kept: %v), want both, %s among them", len(list), a.ID, kept, a.ID)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.hook").length`)); n != 2 {
		t.Errorf("after Enter in the Delete dialog the page lists %d rows, want 2", n)
	}
}

// untrustedReceiver is an HTTPS server whose certificate (self-signed for
// 127.0.0.1) no one trusts: the worker's TLS check refuses it.
func untrustedReceiver(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "untrusted receiver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// Failures in plain language on the page, from real local endpoints: a
// receiver that never answers (HARi's 15 s cut), an untrusted
// certificate, a host name that does not exist; a response time in
// seconds; refused Redeliver and Recover explained with a next step; and
// the delivery log's filters readable at 390 px.
func TestPageFailuresInBrowser(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := devtest.NewReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	slow := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(1200 * time.Millisecond)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	gone := devtest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	bad := untrustedReceiver(t)
	c, page := settingsSite(t)
	timeout := createHook(t, c, fireOnlyHook("Hanging endpoint", hang.URL+"/hook"))
	untrusted := createHook(t, c, fireOnlyHook("Self-signed endpoint", bad.URL+"/hook"))
	nxdomain := createHook(t, c, fireOnlyHook("Misspelt host", "https://nonexistent.invalid/hook"))
	slowHook := createHook(t, c, fireOnlyHook("Slow endpoint", slow.URL+"/hook"))
	goneHook := createHook(t, c, fmtURL(closedWon, gone.URL+"/erp"))

	// A failed delivery to redeliver; then the webhook is deactivated.
	var receipt struct {
		EventID string `json:"event_id"`
	}
	if code, b := c.do("POST", c.events(), oppEvent(c.ws, "Closed Won"), &receipt); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, b)
	}
	if _, err := pub.Wait(context.Background(), c.ws, receipt.EventID); err != nil {
		t.Fatal(err)
	}
	waitListed(t, context.Background(), c.ws, goneHook.ID, time.Now().Add(-time.Hour), 1)
	if code, b := c.do("POST", c.hooks()+"/"+goneHook.ID+"/deactivate", "", nil); code != http.StatusOK {
		t.Fatalf("deactivate: %d %s", code, b)
	}

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	row := func(v view) string { return `tr.hook[data-id="` + v.ID + `"]` }
	step(t, ctx, "open the page", chromedp.Navigate(page), chromedp.WaitVisible(C(`body[data-ready="true"]`)), chromedp.WaitVisible(C(row(goneHook))))
	// One after the other (each answers before the next is fired), the
	// hanging one last: it takes HARi's 15 s.
	step(t, ctx, "listen", chromedp.Evaluate[chromedp.Void](liveRegions))
	for _, v := range []view{untrusted, nxdomain, slowHook, timeout} {
		step(t, ctx, "test fire "+v.Name, chromedp.Click(C(row(v)+` button[data-action="test"]`)))
		if v.ID != timeout.ID {
			waitFor(t, ctx, "the Test fire of "+v.Name, `!document.querySelector('`+row(v)+` button[data-action="test"]').disabled`)
		}
	}
	panel := func(v view, sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.WaitVisible(C(`#panel-`+v.ID+` `+sel))); err != nil {
			shot(t, ctx, "failed-result-of-"+strings.ReplaceAll(v.Name, " ", "-"))
			t.Fatalf("result of %s: %v; the page said %q", v.Name, err, get(t, ctx, chromedp.Evaluate[[]string](`window.liveLog || []`)))
		}
		return get(t, ctx, chromedp.Text(C(`#panel-`+v.ID+` `+sel)))
	}
	raw := func(v view) string {
		return get(t, ctx, chromedp.TextContent(C(`#panel-`+v.ID+` [data-test="error"] details.raw code`)))
	}
	_, tlsPort, _ := net.SplitHostPort(strings.TrimPrefix(bad.URL, "https://"))
	for _, tt := range []struct {
		v             view
		problem, next string
		raw           string
	}{
		{untrusted, "Couldn't set up a secure (HTTPS) connection with 127.0.0.1 on port " + tlsPort + ": the TLS handshake or the certificate check failed.", "valid certificate for 127.0.0.1", "certificate"},
		{nxdomain, "The host name nonexistent.invalid could not be found (DNS lookup failed).", "Check the spelling of the host name", "no such host"},
	} {
		if got := panel(tt.v, `[data-test="error"] .problem`); !strings.HasPrefix(got, tt.problem) || !strings.Contains(got, tt.next) {
			t.Errorf("%s: got %q, want %q and a next step with %q", tt.v.Name, got, tt.problem, tt.next)
		}
		if r := raw(tt.v); !strings.Contains(r, tt.raw) {
			t.Errorf("%s: technical details %q, want the raw error (%s)", tt.v.Name, r, tt.raw)
		}
	}
	// A lookup that fails at once takes under a millisecond: never "0 ms".
	if got := panel(nxdomain, `[data-test="time"]`); !regexp.MustCompile(`^Failed after (under 1 ms|[1-9]\d* ms)$`).MatchString(got) {
		t.Errorf("a failed DNS lookup: got %q, want Failed after under 1 ms, or its whole milliseconds", got)
	}
	for ms, want := range map[string]string{"0": "under 1 ms", "1": "1 ms", "850": "850 ms", "10002": "10.0 s"} {
		if got := get(t, ctx, chromedp.Evaluate[string](`took(`+ms+`)`)); got != want {
			t.Errorf("a duration of %s ms: got %q, want %q", ms, got, want)
		}
	}
	if got := panel(slowHook, `[data-test="time"]`); !regexp.MustCompile(`^Response time: \d+\.\d s$`).MatchString(got) {
		t.Errorf("a 1.2 s answer: got %q, want the response time in seconds (Response time: 1.2 s)", got)
	}
	noSidewaysScroll(t, ctx, "Test fire errors at 1280 px")
	shot(t, ctx, "44-tls-dns-errors")
	// The cut at 15 s: in words, with the real duration in seconds.
	if got := panel(timeout, `[data-test="error"] .problem`); !strings.HasPrefix(got, "127.0.0.1 did not send a complete response: HARi gave up after 1") || !strings.Contains(got, "reply 200 first") {
		t.Errorf("a hanging endpoint: got %q, want that it sent no complete response within the limit, and the next step", got)
	}
	if got := panel(timeout, `[data-test="time"]`); !regexp.MustCompile(`^Failed after 1\d\.\d s$`).MatchString(got) {
		t.Errorf("a hanging endpoint: got %q, want Failed after 15.0 s or so", got)
	}
	shot(t, ctx, "45-timeout-error")

	// Redeliver and Recover of a deactivated webhook: refused in words.
	step(t, ctx, "open the log", chromedp.Click(C(row(goneHook)+` button[data-action="log"]`)), chromedp.WaitVisible(C(`#log-`+goneHook.ID+` button[data-action="redeliver"]`)),
		chromedp.Click(C(`#log-`+goneHook.ID+` button[data-action="redeliver"]`)),
		chromedp.WaitVisible(C(`#log-`+goneHook.ID+` [data-test="redeliver-error"]`)))
	if got := get(t, ctx, chromedp.Text(C(`#log-`+goneHook.ID+` [data-test="redeliver-error"] .problem`))); !strings.Contains(got, "The webhook is deactivated: HARi sends nothing to it") || !strings.Contains(got, "Activate it") {
		t.Errorf("Redeliver of a deactivated webhook: got %q, want it explained with the next step", got)
	}
	if got := get(t, ctx, chromedp.TextContent(C(`#log-`+goneHook.ID+` [data-test="redeliver-error"] details.raw code`))); !strings.Contains(got, "webhook inactive") {
		t.Errorf("Redeliver of a deactivated webhook: technical details %q, want the API's message", got)
	}
	step(t, ctx, "recover", chromedp.Click(C(`#log-`+goneHook.ID+` button[data-action="recover"]`)), chromedp.WaitVisible(C(`#log-`+goneHook.ID+` [data-test="recovery-error"]`)))
	if got := get(t, ctx, chromedp.Text(C(`#log-`+goneHook.ID+` [data-test="recovery-error"]`))); !strings.Contains(got, "Recovery not started: The webhook is deactivated") || strings.Contains(got, "webhook inactive:") {
		t.Errorf("Recover of a deactivated webhook: got %q, want it explained, the raw error folded away", got)
	}
	noSidewaysScroll(t, ctx, "the open log with refusals at 1280 px")
	shot(t, ctx, "46-recovery-refused")

	// The log's filters at 390 px: each label whole, beside or above its
	// control, nothing off the screen.
	step(t, ctx, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Sleep(300*time.Millisecond),
		chromedp.ScrollIntoView(C(`#log-`+goneHook.ID+` .log-filters`)))
	noSidewaysScroll(t, ctx, "the delivery log at 390 px")
	labels := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#log-`+goneHook.ID+` .log-filters label')].map((l) => {
		const r = l.getBoundingClientRect(), f = document.getElementById(l.htmlFor).getBoundingClientRect();
		const line = parseFloat(getComputedStyle(l).lineHeight) || 22; // one line, not a word broken over two
		const whole = r.height > 0 && r.height < 1.5 * line && r.left >= 0 && r.right <= document.documentElement.clientWidth;
		const beside = Math.abs((r.top + r.bottom) / 2 - (f.top + f.bottom) / 2) < f.height / 2 && r.right <= f.left + 1;
		const above = r.bottom <= f.top + 1 && Math.abs(r.left - f.left) < 4;
		const onScreen = f.left >= 0 && f.right <= document.documentElement.clientWidth;
		return whole && (beside || above) && onScreen ? "" : l.textContent + ": " + JSON.stringify({ label: [r.left, r.top, r.right, r.bottom], control: [f.left, f.top, f.right, f.bottom] });
	}).filter(Boolean)`))
	if len(labels) != 0 {
		t.Errorf("log filters at 390 px: labels cut, off screen or away from their controls: %q", labels)
	}
	shot(t, ctx, "47-log-filters-390")
}
