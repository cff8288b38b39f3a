package workflows

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hari-crm/webhooks/webhook"
)

// The registry's state travels whole in every continue-as-new input (and
// in recovery), which Temporal refuses above 2 MiB (the server then ends
// the workflow with BAD_CONTINUE_AS_NEW_ATTRIBUTES). Every piece of it is
// bounded in encoded bytes, as the JSON converter writes them: escaping
// turns one byte of input into up to 6 (\u003c, \u0000, \ufffd).
//
//	webhooks:     MaxWebhooks x webhook.MaxStoredBytes  = 1.17 MiB
//	test results: MaxKeptTestBytes in all                = 0.50 MiB
//	RegistryStateLimit (eviction of test results beyond)  = 1.75 MiB
//
// Small results (the usual case) all stay; only large, escaped bodies
// push the oldest results out (TestRegistryWorstCaseStateStaysUnderTheLimit).
const (
	// MaxTestBodyBytes bounds a kept Test fire response body, encoded.
	// At 6 bytes per character that still keeps more than the
	// TestBodyPreview characters the page shows before "Show more".
	MaxTestBodyBytes = 4096
	// MaxTestErrorBytes bounds a kept Test fire error, encoded.
	MaxTestErrorBytes = 1024
	// MaxKeptTestBytes bounds all kept test results together, encoded; a
	// new result evicts the oldest others beyond it.
	MaxKeptTestBytes = 512 << 10
	// RegistryStateLimit is the most a state may weigh, encoded, when it is
	// carried over (continue-as-new, recovery): 256 KiB below Temporal's
	// 2 MiB payload limit. Oldest test results are dropped to stay within.
	RegistryStateLimit = 1792 << 10
	// registryCarryLimit is the most a state may weigh and still be carried
	// over at all: Temporal's 2 MiB less room for the input's envelope and
	// the codec's. Only webhooks stored before the bounds can pass it.
	registryCarryLimit = 2<<20 - 16<<10
)

// cutEncoded returns the longest prefix of s, cut at a character boundary,
// whose JSON encoding (without quotes) fits in max bytes, and whether it
// had to cut. Bytes that are not UTF-8 count as the \ufffd they become.
func cutEncoded(s string, max int) (string, bool) {
	if encodedString(s) <= max {
		return s, false
	}
	// Character boundaries; the encoded size of a prefix grows with it.
	var bounds []int
	for i := range s {
		bounds = append(bounds, i)
	}
	bounds = append(bounds, len(s))
	n := sort.Search(len(bounds), func(k int) bool { return encodedString(s[:bounds[k]]) > max })
	return s[:bounds[n-1]], true
}

func encodedString(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}

// boundTest cuts a test result's body and error to their bounds.
func boundTest(t TestResult) TestResult {
	var cut bool
	t.Body, cut = cutEncoded(t.Body, MaxTestBodyBytes)
	t.BodyTruncated = t.BodyTruncated || cut && len([]rune(t.Body)) > TestBodyPreview
	if e, cutErr := cutEncoded(t.Error, MaxTestErrorBytes); cutErr {
		t.Error = strings.TrimRight(e, " ") + "…"
	}
	return t
}

// keepTest stores a (bounded) test result for its webhook and evicts the
// oldest other results while all of them together weigh more than
// MaxKeptTestBytes.
func (r *registry) keepTest(t TestResult) TestResult {
	t = boundTest(t)
	r.state.Tests[t.WebhookID] = t
	evictTests(r.state.Tests, webhook.EncodedSize(r.state.Tests), MaxKeptTestBytes, t.WebhookID)
	return t
}

// evictTests drops the oldest test results (by fire time, then webhook ID)
// other than keep while total, the encoded size of what holds them, is
// above max. It returns the new total.
func evictTests(tests map[string]TestResult, total, max int, keep string) int {
	if total <= max {
		return total
	}
	// Sorted keys: no map iteration order reaches workflow code.
	ids := slices.DeleteFunc(slices.Sorted(maps.Keys(tests)), func(id string) bool { return id == keep })
	slices.SortStableFunc(ids, func(a, b string) int {
		if c := tests[a].FiredAt.Compare(tests[b].FiredAt); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, id := range ids {
		if total <= max {
			break
		}
		// The entry, its key and its separators: "id":{...},
		total -= webhook.EncodedSize(tests[id]) + webhook.EncodedSize(id) + 2
		delete(tests, id)
	}
	return total
}

// BoundState makes s fit RegistryStateLimit before it is carried over:
// test results are cut to their bounds and the oldest are dropped while
// the state is too large. Webhooks are never dropped; a state that is
// still too large (only possible with webhooks stored before the bounds
// existed) is an error. It returns the state's encoded size.
func BoundState(s *RegistryState) (int, error) {
	for _, id := range slices.Sorted(maps.Keys(s.Tests)) {
		s.Tests[id] = boundTest(s.Tests[id])
	}
	evictTests(s.Tests, webhook.EncodedSize(s), RegistryStateLimit, "")
	n := webhook.EncodedSize(s)
	if n > RegistryStateLimit {
		return n, fmt.Errorf("registry state is %d bytes encoded even without test results, above the %d-byte limit", n, RegistryStateLimit)
	}
	return n, nil
}
