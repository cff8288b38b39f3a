package codec

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sealed webhook secrets.
//
// Format v3 ("sealed:v3:<key id>:<base64url(nonce‖ciphertext)>") binds the
// secret to its workspace, its webhook and the webhook's canonical URL
// (endpoint.CanonicalURL) through the AEAD's associated data: a v3 seal
// copied into another workspace, another webhook, a direct target or a
// routed target with another URL does not open. Older formats open only
// on the re-seal path (Reseal, run by `starter keys reseal`), never for a
// delivery: v2 ("sealed:v2:...") bound the workspace and webhook but not
// the URL; v1 ("sealed:v1:...") bound only a fixed label.
const (
	SealPrefix       = "sealed:v3:"
	SealV2Prefix     = "sealed:v2:"
	LegacySealPrefix = "sealed:v1:"
)

// ErrLegacySeal means a v1 or v2 seal was offered where only v3 opens.
var ErrLegacySeal = errors.New("the secret is sealed in an old format (v1 or v2) that is not bound to its webhook's URL; the operator must re-seal it: starter keys reseal")

var legacyAAD = []byte("hari-webhook-secret/v1")

// lengthPrefixed encodes names unambiguously whatever characters they hold.
func lengthPrefixed(label string, names ...string) []byte {
	b := []byte(label)
	for _, n := range names {
		b = append(b, '|')
		b = strconv.AppendInt(b, int64(len(n)), 10)
		b = append(b, ':')
		b = append(b, n...)
	}
	return b
}

// sealAAD is the associated data of a v3 seal; url must be canonical.
func sealAAD(workspace, webhookID, url string) []byte {
	return lengthPrefixed("hari-webhook-secret/v3", workspace, webhookID, url)
}

// sealV2AAD is the associated data of a v2 seal (re-seal path only).
func sealV2AAD(workspace, webhookID string) []byte {
	return lengthPrefixed("hari-webhook-secret/v2", workspace, webhookID)
}

// Seal encrypts a webhook secret under the active key, bound to its
// workspace, webhook ID and canonical URL (the caller passes
// endpoint.CanonicalURL of the webhook's URL). The result is opaque text
// that is safe to store in workflow state: only a holder of the key ring
// opens it, and only for that same workspace, webhook and URL.
func (r *Keyring) Seal(secret, workspace, webhookID, url string) (string, error) {
	if workspace == "" || webhookID == "" || url == "" {
		return "", errors.New("seal secret: the workspace, the webhook id and the URL are required")
	}
	aead := r.keys[r.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	ct := aead.Seal(nonce, nonce, []byte(secret), sealAAD(workspace, webhookID, url))
	return SealPrefix + r.active + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a v3 sealed secret of the given workspace, webhook and
// canonical URL with whichever key of the ring sealed it. A seal made for
// another workspace, webhook or URL, or an older format (ErrLegacySeal),
// does not open.
func (r *Keyring) Open(sealed, workspace, webhookID, url string) (string, error) {
	if strings.HasPrefix(sealed, LegacySealPrefix) || strings.HasPrefix(sealed, SealV2Prefix) {
		return "", fmt.Errorf("open secret: %w", ErrLegacySeal)
	}
	return r.open(sealed, SealPrefix, sealAAD(workspace, webhookID, url))
}

// OpenLegacy decrypts a v1 sealed secret (bound to nothing). Only the
// re-seal path and delivery inputs recorded before bound seals existed
// call it.
func (r *Keyring) OpenLegacy(sealed string) (string, error) {
	return r.open(sealed, LegacySealPrefix, legacyAAD)
}

func (r *Keyring) open(sealed, prefix string, aad []byte) (string, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", fmt.Errorf("open secret: not a sealed secret of format %s", strings.TrimSuffix(strings.TrimPrefix(prefix, "sealed:"), ":"))
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("open secret: malformed sealed secret")
	}
	aead, ok := r.keys[id]
	if !ok {
		return "", fmt.Errorf("open secret: unknown key id %q", id)
	}
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(ct) < aead.NonceSize() {
		return "", errors.New("open secret: malformed sealed secret")
	}
	plain, err := openWith(aead, ct, aad)
	if err != nil {
		return "", fmt.Errorf("open secret with key %s: it was not sealed for this workspace, webhook and URL, or not with this key: %w", id, err)
	}
	return string(plain), nil
}

func openWith(aead cipher.AEAD, ct, aad []byte) ([]byte, error) {
	return aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad)
}

// NeedsReseal reports whether a sealed secret is not yet in the newest
// form: v1, v2, or v3 under a key other than the active one.
func (r *Keyring) NeedsReseal(sealed string) bool {
	if sealed == "" {
		return false
	}
	return !strings.HasPrefix(sealed, SealPrefix+r.active+":")
}

// Reseal opens a sealed secret of the given workspace, webhook and
// canonical URL (v3; or v2 or v1 for the upgrade) and seals it again with
// the active key in format v3. A secret already in the newest form is
// returned unchanged (changed is false); "" stays "".
func (r *Keyring) Reseal(sealed, workspace, webhookID, url string) (out string, changed bool, err error) {
	if !r.NeedsReseal(sealed) {
		return sealed, false, nil
	}
	var plain string
	switch {
	case strings.HasPrefix(sealed, LegacySealPrefix):
		plain, err = r.OpenLegacy(sealed)
	case strings.HasPrefix(sealed, SealV2Prefix):
		plain, err = r.open(sealed, SealV2Prefix, sealV2AAD(workspace, webhookID))
	default:
		plain, err = r.Open(sealed, workspace, webhookID, url)
	}
	if err != nil {
		return "", false, err
	}
	out, err = r.Seal(plain, workspace, webhookID, url)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}
