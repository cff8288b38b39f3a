package webhook

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A disable reason is cut at a rune boundary to its bound as the registry
// stores it (JSON-encoded, escapes included), and always passes
// ValidReason; before, a byte cut split runes and control characters
// escaped a 300-byte reason to about 1.8 KB.
func TestCutReason(t *testing.T) {
	for _, s := range []string{
		"HTTP 503: short",
		strings.Repeat("é", 500),
		strings.Repeat("€", 300),
		strings.Repeat("\x00<>&\"\\", 200),
		"HTTP 500: " + strings.Repeat("\xff", 400),
		strings.Repeat("a", MaxDisabledReason-2),
	} {
		got := CutReason(s)
		if n := EncodedSize(got); n > MaxDisabledReason {
			t.Errorf("CutReason(%.20q): got %d encoded bytes, want at most %d", s, n, MaxDisabledReason)
		}
		if !utf8.ValidString(got) || !ValidReason(got) {
			t.Errorf("CutReason(%.20q) = %.40q: got an invalid reason", s, got)
		}
		if EncodedSize(s) <= MaxDisabledReason && utf8.ValidString(s) && got != s {
			t.Errorf("CutReason(%.20q): got %.20q, want it unchanged (within the bound)", s, got)
		}
	}
	if ValidReason(strings.Repeat("\x00", 100)) {
		t.Error("100 NUL bytes (600 encoded): got valid, want refused")
	}
	if ValidReason("") || ValidReason("bad \xff utf-8") {
		t.Error("empty or invalid UTF-8 reason: got valid, want refused")
	}
}
