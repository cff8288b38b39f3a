package codec

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// SessionCookie is the cookie the sign-in page sets for the Temporal Web UI
// in the same browser. The Web UI cannot send a bearer token to a codec
// endpoint; with its codec setting includeCredentials
// (TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true) it sends this browser's cookies
// instead. HttpOnly (no script reads it), SameSite=Strict (no other site's
// page sends it), scoped to the codec's path. Its value is not the token: a
// session signed (gorilla/securecookie: HMAC-SHA256 with a timestamp) with
// a key derived from the token, so a cookie that leaks (cookies ignore
// ports: any server on the same host name receives it) opens the codec for
// what is left of SessionMaxAge, checked here, and never becomes a bearer
// token; rotating the codec token ends every session.
const SessionCookie = "hari_codec"

// SessionMaxAge is how long a sign-in lasts.
const SessionMaxAge = 12 * time.Hour

// maxSignInForm bounds the sign-in form's body.
const maxSignInForm = 4 << 10

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Codec sign-in: HARi Webhooks</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
input{font:inherit;width:100%;padding:.4rem;box-sizing:border-box}button{font:inherit;margin-top:.8rem;padding:.4rem 1rem}
.error{color:#a40000}.ok{color:#135e13}</style></head><body>
<h1>Sign the Temporal Web UI in to the codec</h1>
{{if .Open}}<p class="ok" role="status">This codec endpoint runs in development mode and needs no token: the Web UI already shows decoded payloads.</p>
{{else if .SignedIn}}<p class="ok" role="status">Signed in. The Temporal Web UI in this browser now shows decoded payloads for {{.Hours}} hours, or until you sign out.</p>
{{if .WebUI}}<p><a href="{{.WebUI}}">Open the Web UI</a></p>{{end}}
<form method="post" action="signout"><button type="submit">Sign out</button></form>
{{else}}<p>Workflow inputs and results are encrypted. The Web UI decodes them through this endpoint, which needs this deployment's codec token (<code>HARI_CODEC_TOKEN</code>; <code>make stack</code> keeps it in <code>.data/stack/codec.token</code>). Signing in keeps it in an HttpOnly cookie of this browser, sent only to this endpoint.</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="signin"><label for="token">Codec token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Sign in</button></form>{{end}}
</body></html>
`))

// sessionCodec signs and checks session cookies with a key derived from
// the codec token (HKDF-SHA256), so every worker of a deployment accepts
// the same sessions and a restart keeps them.
func sessionCodec(token string) *securecookie.SecureCookie {
	key, err := hkdf.Key(sha256.New, []byte(token), nil, "hari codec session cookie v1", 64)
	if err != nil {
		panic(err) // only for a key length SHA-256 cannot give
	}
	return securecookie.New(key, nil).MaxAge(int(SessionMaxAge / time.Second))
}

// sessionValue is what a session cookie carries (signed, with its time).
const sessionValue = "codec"

type signInView struct {
	Open, SignedIn bool
	Hours          int
	WebUI, Error   string
}

// serveSession serves {prefix}/signin and {prefix}/signout.
func serveSession(w http.ResponseWriter, r *http.Request, access Access, prefix string) {
	view := signInView{Open: access.Token == "" && access.Anonymous, Hours: int(SessionMaxAge / time.Hour), WebUI: access.WebUI}
	status := http.StatusOK
	switch {
	case r.Method == http.MethodGet:
		view.SignedIn = !view.Open && access.Token != "" && validSession(r, access.Token)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	case !sameOrigin(r):
		http.Error(w, "a sign-in form may only be posted from this endpoint's own page", http.StatusForbidden)
		return
	case strings.HasSuffix(r.URL.Path, "/signout"):
		http.SetCookie(w, sessionCookie(r, prefix, "", -1))
	case view.Open:
	default:
		r.Body = http.MaxBytesReader(w, r.Body, maxSignInForm)
		if err := r.ParseForm(); err != nil {
			view.Error = "The form could not be read. Nothing was changed."
			status = http.StatusBadRequest
			break
		}
		got := strings.TrimSpace(r.PostForm.Get("token"))
		if access.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(access.Token)) != 1 {
			view.Error = "That is not this deployment's codec token. Nothing was changed: check HARI_CODEC_TOKEN (make stack: .data/stack/codec.token) and try again."
			status = http.StatusUnauthorized
			break
		}
		value, err := sessionCodec(access.Token).Encode(SessionCookie, sessionValue)
		if err != nil {
			http.Error(w, "could not sign the session", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, sessionCookie(r, prefix, value, int(SessionMaxAge/time.Second)))
		view.SignedIn = true
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes a browser post Origin: null
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = signInPage.Execute(w, view)
}

// sessionCookie is the sign-in cookie, or its removal (maxAge -1).
func sessionCookie(r *http.Request, prefix, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     prefix,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

// validSession reports whether the request carries a session cookie signed
// for this token and not older than SessionMaxAge.
func validSession(r *http.Request, token string) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	var v string
	return sessionCodec(token).Decode(SessionCookie, c.Value, &v) == nil && v == sessionValue
}

// sameOrigin refuses a form posted from another origin's page (a browser
// always sends Origin with a POST; a client without one is not a browser).
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
