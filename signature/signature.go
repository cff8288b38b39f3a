// Package signature signs webhook bodies and verifies them. Receivers can
// import it without the Temporal SDK: it depends only on the standard
// library.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// Header names sent with every delivery.
const (
	HeaderSecret    = "X-Webhook-Secret"
	HeaderSignature = "X-Webhook-Signature"
	HeaderID        = "X-Webhook-Id"
	HeaderEvent     = "X-Webhook-Event"
	HeaderAttempt   = "X-Webhook-Attempt"
)

// Sign returns the lowercase hex HMAC-SHA256 of body keyed with secret: the
// value of X-Webhook-Signature.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is the hex HMAC-SHA256 of body under
// secret. The comparison takes constant time.
func Verify(secret string, body []byte, signature string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(signature))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// VerifyRequest checks a received request's headers against secret and the
// raw body: X-Webhook-Signature must match, and X-Webhook-Secret, when
// present, must equal secret (compared in constant time).
func VerifyRequest(secret string, h http.Header, body []byte) bool {
	if s := h.Get(HeaderSecret); s != "" && !hmac.Equal([]byte(s), []byte(secret)) {
		return false
	}
	return Verify(secret, body, h.Get(HeaderSignature))
}
