package delivery

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Bounds of the response headers an attempt keeps: they go into the
// workflow's history with every attempt.
const (
	KeptHeaders     = 30
	KeptHeaderValue = 200
	KeptHeaderBytes = 2048
)

// droppedHeaders are never kept: they can carry credentials.
var droppedHeaders = map[string]bool{"Set-Cookie": true, "Authorization": true, "Proxy-Authorization": true}

// Values that stand for secret header values in a kept request.
const (
	RedactedSecret    = "(secret: not kept in the log)"
	RedactedSignature = "(signature: not kept in the log)"
)

// KeepRequestHeaders returns the request headers an attempt records, as
// KeepHeaders bounds them, with the values of the named secret headers
// replaced by RedactedSecret and of the signature headers by
// RedactedSignature: neither reaches the history.
func KeepRequestHeaders(h http.Header, secret []string, signatures []string) map[string]string {
	clean := make(http.Header, len(h))
	for name, vals := range h {
		name = http.CanonicalHeaderKey(name)
		switch {
		case slices.Contains(secret, name):
			vals = []string{RedactedSecret}
		case slices.Contains(signatures, name):
			vals = []string{RedactedSignature}
		}
		clean[name] = append(clean[name], vals...)
	}
	return KeepHeaders(clean)
}

// KeepHeaders returns the response headers an attempt records: in name
// order, values of one name joined with ", ", each cut to KeptHeaderValue
// bytes, at most KeptHeaders names and KeptHeaderBytes in all; Set-Cookie
// and Authorization left out. Nil when there are none.
func KeepHeaders(h http.Header) map[string]string {
	names := make([]string, 0, len(h))
	for name := range h {
		if !droppedHeaders[http.CanonicalHeaderKey(name)] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]string{}
	budget := KeptHeaderBytes
	for _, name := range names {
		if len(out) == KeptHeaders {
			break
		}
		v := cut(strings.Join(h[name], ", "), KeptHeaderValue)
		if len(name)+len(v) > budget {
			break
		}
		budget -= len(name) + len(v)
		out[http.CanonicalHeaderKey(name)] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// cut shortens s to at most n bytes at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
