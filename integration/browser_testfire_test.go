package integration

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hari-crm/webhooks/internal/devtest"
)

// A reload of the list reads each webhook's kept Test fire result. When
// that read was answered before a Test fire ended but reaches the page
// after it (a slow network, a loaded server), it must not replace the
// Test fire's answer with the older result (here: none, which hid the
// panel).
func TestTestFireAnswerIsNotReplacedByAnOlderReadInBrowser(t *testing.T) {
	t.Parallel()
	rc := devtest.NewReceiver(t, codes(200))
	var slow atomic.Bool
	c, page := logSiteWith(t, func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !slow.Load() || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/test-result") {
				inner.ServeHTTP(w, r)
				return
			}
			// Read now, answer in 4 s: the answer is the result as it was.
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			time.Sleep(4 * time.Second)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	})
	createHook(t, c, fmtURL(closedWon, rc.URL+"/erp"))

	ctx := browser(t)
	C := func(sel string) css { return css(sel) }
	step(t, ctx, "open the page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(C(`body[data-ready="true"]`)),
	)
	slow.Store(true)
	step(t, ctx, "reload the list, then Test fire while its read is on its way",
		chromedp.Evaluate[chromedp.Void](`load()`),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Click(C(`tr.hook button[data-action="test"]`)),
		chromedp.WaitVisible(C(`.panel [data-test="status"]`)),
	)
	// The reload's read comes back (with no result) about 4 s after it left.
	time.Sleep(6 * time.Second)
	visible := get(t, ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('.panel [data-test="status"]'); return !!s && s.offsetParent !== null && s.textContent.includes("HTTP 200"); })()`))
	if !visible {
		shot(t, ctx, "failed-test-fire-replaced")
		t.Fatal("the Test fire's answer (HTTP 200) is gone after an older read of the kept result came back: want it kept")
	}
}
