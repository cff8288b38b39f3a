package delivery

import (
	"net/http"
	"strings"
	"testing"
)

func TestKeepHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Add("X-Request-Id", "abc")
	h.Add("Vary", "Origin")
	h.Add("Vary", "Accept")
	h.Set("Set-Cookie", "session=secret")
	h.Set("Authorization", "Bearer secret")
	h.Set("X-Long", strings.Repeat("é", 300))
	got := KeepHeaders(h)
	want := map[string]string{"Content-Type": "application/json", "X-Request-Id": "abc", "Vary": "Origin, Accept"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"Set-Cookie", "Authorization"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s kept, want it left out (credentials)", k)
		}
	}
	if v := got["X-Long"]; len(v) > KeptHeaderValue || !strings.HasPrefix(strings.Repeat("é", 300), v) || len(v) < KeptHeaderValue-1 {
		t.Errorf("X-Long: got %d bytes, want it cut at a rune boundary to at most %d", len(v), KeptHeaderValue)
	}
	many := http.Header{}
	for i := range 100 {
		many.Set("X-H"+strings.Repeat("a", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), strings.Repeat("v", 150))
	}
	kept := KeepHeaders(many)
	total := 0
	for k, v := range kept {
		total += len(k) + len(v)
	}
	if len(kept) > KeptHeaders || total > KeptHeaderBytes {
		t.Errorf("100 headers: kept %d names, %d bytes; want at most %d and %d", len(kept), total, KeptHeaders, KeptHeaderBytes)
	}
	if KeepHeaders(http.Header{}) != nil {
		t.Error("no headers: got a map, want nil")
	}
}
