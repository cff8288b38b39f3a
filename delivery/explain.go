package delivery

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Help is a failed attempt put in plain language for an admin: what
// happened, in one sentence, and what to do next. The raw error stays in
// Attempt.Error for the technical details.
type Help struct {
	// Problem says what happened, naming the host and port dialled.
	Problem string `json:"problem"`
	// Next is the next step to take.
	Next string `json:"next"`
}

// Explain puts the outcome of an attempt in plain language: one table
// keyed by the attempt's class. target is the URL the attempt went to
// (for its host and port; the URL itself is never repeated, as its path
// can hold a token). It returns nil for a success.
func Explain(class Class, statusCode int, durationMS int64, target string) *Help {
	host, port := hostPort(target)
	took := Seconds(durationMS)
	switch class {
	case ClassNone:
		if statusCode >= 200 && statusCode < 300 {
			return nil
		}
	case ClassConnectionRefused:
		return &Help{
			Problem: fmt.Sprintf("Couldn't connect to %s on port %s: nothing is listening.", host, port),
			Next:    "Check the URL and that your server is running.",
		}
	case ClassTimeout:
		return &Help{
			Problem: fmt.Sprintf("%s did not send a complete response: HARi gave up after %s (the limit is %s per attempt).", host, took, Seconds(AttemptTimeout.Milliseconds())),
			Next:    "Make your endpoint answer quickly: reply 200 first and do slow work afterwards, for example from a queue.",
		}
	case ClassTLS:
		return &Help{
			Problem: fmt.Sprintf("Couldn't set up a secure (HTTPS) connection with %s on port %s: the TLS handshake or the certificate check failed.", host, port),
			Next:    "Check that the server speaks HTTPS on this port with a valid certificate for " + host + " from a public certificate authority, not a self-signed or expired one.",
		}
	case ClassDNS:
		return &Help{
			Problem: fmt.Sprintf("The host name %s could not be found (DNS lookup failed).", host),
			Next:    "Check the spelling of the host name in the URL, and that its DNS record exists.",
		}
	case ClassConnectionReset:
		return &Help{
			Problem: fmt.Sprintf("%s closed the connection before sending a response.", host),
			Next:    "Check your server's logs for a crash, and any proxy or firewall in front of it.",
		}
	case ClassInvalidTarget:
		return &Help{
			Problem: "HARi cannot send to this URL.",
			Next:    "Edit the webhook and enter a full https:// URL, such as https://your-server.com/webhooks/hari.",
		}
	case ClassBlocked:
		return &Help{
			Problem: fmt.Sprintf("HARi does not send to %s: it is a private or reserved address.", host),
			Next:    "Use the public address of your server.",
		}
	case ClassNetwork:
		return &Help{
			Problem: fmt.Sprintf("Couldn't reach %s on port %s: the network connection failed.", host, port),
			Next:    "Check the URL, and that your server accepts connections from the internet on this port.",
		}
	}
	return explainStatus(statusCode, host, " HARi retries it.")
}

// ExplainTestFire is Explain for a Test fire, which makes one attempt and
// never retries: where a delivery would be retried, it says so instead of
// "HARi retries it".
func ExplainTestFire(class Class, statusCode int, durationMS int64, target string) *Help {
	if class != ClassNone && class != ClassHTTPStatus {
		return Explain(class, statusCode, durationMS, target)
	}
	if statusCode >= 200 && statusCode < 300 {
		return nil
	}
	host, _ := hostPort(target)
	return explainStatus(statusCode, host, " A delivery would be retried after 1, 2 and 4 s; Test fire sends once.")
}

// explainStatus explains a response that was not 2xx; retried is what
// to say of a status that is retried.
func explainStatus(code int, host, retried string) *Help {
	if code == 0 {
		return &Help{Problem: "The attempt failed.", Next: "Try again; the technical details below say more."}
	}
	status := fmt.Sprintf("HTTP %d", code)
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	h := &Help{Problem: fmt.Sprintf("%s answered %s.", host, status)}
	switch {
	case code >= 300 && code < 400:
		h.Problem += " HARi does not follow redirects."
		h.Next = "Change the URL to the address the redirect points to (often http:// to https://, or a missing trailing slash)."
	case code == 401 || code == 403:
		h.Problem += " It refused the request, so HARi does not retry it."
		h.Next = "Check how your endpoint authenticates HARi: verify X-Webhook-Signature with the webhook's secret, and that both sides use the same secret."
	case code == 404 || code == 405 || code == 410:
		h.Problem += " There is no webhook endpoint at this path, so HARi does not retry it."
		h.Next = "Check the path in the URL, and that your endpoint accepts POST."
	case code == 408 || code == 429:
		h.Problem += retried
		h.Next = "Your server is busy or rate-limiting: let it accept bursts, or queue the work."
	case code >= 400 && code < 500:
		h.Problem += " It rejected the request, so HARi does not retry it."
		h.Next = "Check your server's logs for why it rejected the payload."
	case code >= 500:
		h.Problem += " That is an error on your server." + retried
		h.Next = "Check your server's logs for the error."
	default:
		h.Next = "Make your endpoint answer with a 2xx status, such as 200 OK."
	}
	return h
}

// Seconds writes a duration in milliseconds for people: "850 ms" below a
// second, "10.0 s" above.
func Seconds(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%d ms", ms)
	}
	return fmt.Sprintf("%.1f s", float64(ms)/1000)
}

// hostPort returns the host and port a URL dials, with the scheme's
// default port; placeholders when the URL cannot be parsed.
func hostPort(target string) (string, string) {
	u, err := url.Parse(strings.TrimSpace(target))
	if err != nil || u.Hostname() == "" {
		return "the server", "443"
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return u.Hostname(), port
}

// NextRetryAt is when the next attempt of a delivery still under way is
// due: the last attempt's end plus its wait in Schedule. It is false when
// no retry is coming (no attempt yet, a success, a failure that is not
// retried, or every attempt spent).
func NextRetryAt(attempts []Attempt) (time.Time, bool) {
	n := len(attempts)
	if n == 0 || n >= MaxAttempts {
		return time.Time{}, false
	}
	last := attempts[n-1]
	if last.Succeeded() || !last.Retryable() {
		return time.Time{}, false
	}
	wait := Schedule[min(n-1, len(Schedule)-1)]
	return last.StartedAt.Add(time.Duration(last.DurationMS)*time.Millisecond + wait), true
}
