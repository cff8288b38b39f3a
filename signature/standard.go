package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com): a
// timestamped signature that receivers use to reject replays.
const (
	HeaderStdID        = "Webhook-Id"
	HeaderStdTimestamp = "Webhook-Timestamp"
	HeaderStdSignature = "Webhook-Signature"
)

// DefaultTolerance is how old (or how far in the future) a timestamp may be.
const DefaultTolerance = 5 * time.Minute

// Verification failures of VerifyStandard.
var (
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("timestamp outside the tolerance (a replay, or a clock far off)")
	ErrNoMatch        = errors.New("no signature matches")
)

// StandardKey is the HMAC key of a secret: the base64-decoded part of a
// "whsec_..." secret (the Standard Webhooks convention), else the secret's
// bytes as they are.
func StandardKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err == nil && len(k) > 0 {
			return k
		}
	}
	return []byte(secret)
}

// CheckSecret refuses a "whsec_" secret whose rest is not standard base64
// of at least 16 bytes: Standard Webhooks libraries would derive another
// key from it than this package does, and every signature would fail.
func CheckSecret(secret string) error {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err != nil || len(k) < 16 {
			return errors.New("a whsec_ secret must be whsec_ followed by standard base64 of at least 16 bytes (the Standard Webhooks form); or use a secret without that prefix")
		}
	}
	return nil
}

// SignStandard returns one "v1,<base64>" signature of id.timestamp.body.
func SignStandard(secret, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, StandardKey(secret))
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// StandardHeaders sets the three headers, with one signature per secret
// (during a rotation, the new and the old).
func StandardHeaders(h http.Header, id string, at time.Time, body []byte, secrets ...string) {
	ts := at.Unix()
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sigs = append(sigs, SignStandard(s, id, ts, body))
	}
	h.Set(HeaderStdID, id)
	h.Set(HeaderStdTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderStdSignature, strings.Join(sigs, " "))
}

// VerifyStandard checks a request's Standard Webhooks headers: the
// timestamp within tolerance of now, and any "v1," signature matching the
// secret (compared in constant time).
func VerifyStandard(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderStdID), h.Get(HeaderStdTimestamp), h.Get(HeaderStdSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix timestamp", ErrTimestamp, tsText)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := []byte(SignStandard(secret, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrNoMatch
}
