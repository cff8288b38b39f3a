package settings

import (
	"io/fs"
	"os"
	"strings"
	"testing"
)

// The page's verification snippets are the README's, which
// TestReadmeSnippetsAgainstVectors (package signature) runs against the
// golden vectors: a change to one without the other fails here.
func TestSnippetsAreTheReadmes(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "### Verifying deliveries (receivers)")
	if start < 0 {
		t.Fatal("README has no section Verifying deliveries (receivers)")
	}
	section = section[start:]
	if end := strings.Index(section[1:], "\n## "); end > 0 {
		section = section[:end+1]
	}
	for _, tt := range []struct{ lang, file string }{{"go", "verify.go.txt"}, {"js", "verify.js.txt"}, {"python", "verify.py.txt"}} {
		page, err := fs.ReadFile(static, "static/snippets/"+tt.file)
		if err != nil {
			t.Fatalf("embedded snippet %s: %v", tt.file, err)
		}
		parts := strings.SplitN(section, "```"+tt.lang+"\n", 2)
		if len(parts) != 2 {
			t.Fatalf("README's receivers section has no %s block", tt.lang)
		}
		block, _, _ := strings.Cut(parts[1], "\n```")
		if got, want := string(page), block+"\n"; got != want {
			t.Errorf("settings/static/snippets/%s:\n got %q\nwant the README's %s block %q", tt.file, got, tt.lang, want)
		}
	}
}
