// Package settings serves the Settings > Webhooks page: one HTML page with
// its script and styles embedded in the binary (no build step, no CDN),
// working against the HTTP API of package api.
package settings

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/hari-crm/webhooks/webhook"
)

//go:embed static
var static embed.FS

// Config is what the page needs to know about its surroundings.
type Config struct {
	// TemporalUI is the Web UI's base URL, for links to workflows.
	TemporalUI string `json:"temporal_ui"`
	// Namespace is the Temporal namespace of the workflows.
	Namespace string `json:"namespace"`
	// Workspace preselected when the URL names none.
	Workspace string `json:"workspace"`
}

// Handler serves the page under /settings/.
func Handler(cfg Config) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /settings/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(cfg)
	})
	// The guided builder's choices: event types in words, fields per
	// entity, stages and statuses.
	mux.HandleFunc("GET /settings/catalog.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(webhook.TheCatalog())
	})
	mux.HandleFunc("GET /settings/webhooks", func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		secure(w)
		files.ServeHTTP(w, r2)
	})
	mux.Handle("GET /settings/static/", http.StripPrefix("/settings/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		files.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/settings/webhooks", http.StatusFound)
	})
	return mux
}

func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
