package codec

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"go.temporal.io/sdk/converter"
)

// Handler serves the codec endpoint the Temporal Web UI and CLI call to
// decode payloads (POST {prefix}/decode and {prefix}/encode). origins lists
// the Web UI origins allowed by CORS; token, when set, must come as
// "Authorization: Bearer <token>".
func Handler(keys *Keyring, origins []string, token string) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(Codec{Keys: keys})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && allowed(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				http.Error(w, `{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}`, http.StatusUnauthorized)
				return
			}
		}
		if !strings.HasSuffix(r.URL.Path, "/decode") && !strings.HasSuffix(r.URL.Path, "/encode") {
			http.NotFound(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	})
}

func allowed(origins []string, origin string) bool {
	for _, o := range origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}
