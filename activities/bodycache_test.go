package activities

import (
	"strings"
	"testing"
	"time"
)

func TestBodyCacheBoundsBytesAndAge(t *testing.T) {
	now := time.Unix(0, 0)
	c := newBodyCache(10, time.Minute)
	c.now = func() time.Time { return now }
	c.put("a", []byte("aaaa"))
	c.put("b", []byte("bbbb"))
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a: got a miss, want a hit")
	}
	c.put("c", []byte("cccc")) // 12 bytes > 10: the least recently used (b) goes
	if _, ok := c.get("b"); ok {
		t.Error("b: got a hit, want it evicted (least recently used)")
	}
	for _, k := range []string{"a", "c"} {
		if got, ok := c.get(k); !ok || string(got) != strings.Repeat(k, 4) {
			t.Errorf("%s: got %q, %v, want its body", k, got, ok)
		}
	}
	if c.size != 8 {
		t.Errorf("size: got %d, want 8", c.size)
	}
	c.put("big", []byte(strings.Repeat("x", 11)))
	if _, ok := c.get("big"); ok {
		t.Error("a body above the bound: got a hit, want it never kept")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("a"); ok {
		t.Error("a after its age: got a hit, want a miss")
	}
	if c.size != 4 {
		t.Errorf("size after expiry: got %d, want 4", c.size)
	}
}
