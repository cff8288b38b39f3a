package codec

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"go.temporal.io/sdk/converter"
)

// Access says who may call the codec endpoint.
type Access struct {
	// Origins lists the Web UI origins allowed by CORS. "*" allows every
	// origin, but then without credentials (a wildcard origin is never
	// combined with Access-Control-Allow-Credentials).
	Origins []string
	// Token, when set, must come as "Authorization: Bearer <token>".
	Token string
	// Anonymous serves callers without a token when Token is empty: for
	// development only. Without it and without a Token every call is
	// refused with 401.
	Anonymous bool
	// WebUI is the Temporal Web UI's address, linked from the sign-in page.
	WebUI string
}

// Handler serves the codec endpoint the Temporal Web UI and CLI call to
// decode payloads (POST {prefix}/decode and {prefix}/encode). Whoever may
// call it can read every payload and forge new ones, so it is
// authenticated by default: the token as a bearer token (the CLI), or the
// cookie of {prefix}/signin, a page where an engineer enters the token
// once for the Web UI in the same browser.
func Handler(keys *Keyring, access Access) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(Codec{Keys: keys, PassPlain: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			h := w.Header()
			h.Add("Vary", "Origin")
			allow := allowed(access.Origins, origin)
			switch {
			case allow == "*":
				h.Set("Access-Control-Allow-Origin", "*")
			case allow != "":
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if allow != "" {
				h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			}
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if p := r.URL.Path; strings.HasSuffix(p, "/signin") || strings.HasSuffix(p, "/signout") {
			serveSession(w, r, access, p[:strings.LastIndex(p, "/")+1])
			return
		}
		if !authorized(r, access) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer realm="hari-codec"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"a valid bearer token is required (HARI_CODEC_TOKEN), or sign in at the codec endpoint's /signin page"}}` + "\n"))
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/decode") && !strings.HasSuffix(r.URL.Path, "/encode") {
			http.NotFound(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	})
}

func authorized(r *http.Request, access Access) bool {
	if access.Token == "" {
		return access.Anonymous
	}
	if validSession(r, access.Token) {
		return true
	}
	// The scheme is case-insensitive (RFC 9110).
	scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(access.Token)) == 1
}

// allowed returns the entry of origins that admits origin: the origin
// itself, "*", or "" when none does.
func allowed(origins []string, origin string) string {
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "*" {
			return "*"
		}
		if strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}
