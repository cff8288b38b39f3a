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
// Format v2 ("sealed:v2:<key id>:<base64url(nonce‖ciphertext)>") binds the
// secret to its workspace and webhook through the AEAD's associated data:
// a v2 seal copied into another workspace, another webhook or a direct
// target does not open. Format v1 ("sealed:v1:...") bound only a fixed
// label; it is opened by OpenLegacy alone, which only the re-seal path
// and inputs recorded before v2 existed use, never a new delivery.
const (
	SealPrefix       = "sealed:v2:"
	LegacySealPrefix = "sealed:v1:"
)

// ErrLegacySeal means a v1 seal was offered where only v2 opens.
var ErrLegacySeal = errors.New("the secret is sealed in the old v1 format, which is not bound to its webhook; re-seal it (starter keys reseal)")

var legacyAAD = []byte("hari-webhook-secret/v1")

// sealAAD is the associated data of a v2 seal. The lengths make the
// encoding unambiguous whatever characters the names hold.
func sealAAD(workspace, webhookID string) []byte {
	return []byte("hari-webhook-secret/v2|" + strconv.Itoa(len(workspace)) + ":" + workspace + "|" + strconv.Itoa(len(webhookID)) + ":" + webhookID)
}

// Seal encrypts a webhook secret under the active key, bound to its
// workspace and webhook ID. The result is opaque text that is safe to
// store in workflow state: only a holder of the key ring opens it, and
// only for that same workspace and webhook.
func (r *Keyring) Seal(secret, workspace, webhookID string) (string, error) {
	if workspace == "" || webhookID == "" {
		return "", errors.New("seal secret: the workspace and the webhook id are required")
	}
	aead := r.keys[r.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	ct := aead.Seal(nonce, nonce, []byte(secret), sealAAD(workspace, webhookID))
	return SealPrefix + r.active + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a v2 sealed secret of the given workspace and webhook with
// whichever key of the ring sealed it. A seal made for another workspace
// or webhook, or a v1 seal (ErrLegacySeal), does not open.
func (r *Keyring) Open(sealed, workspace, webhookID string) (string, error) {
	if strings.HasPrefix(sealed, LegacySealPrefix) {
		return "", fmt.Errorf("open secret: %w", ErrLegacySeal)
	}
	return r.open(sealed, SealPrefix, sealAAD(workspace, webhookID))
}

// OpenLegacy decrypts a v1 sealed secret (bound to nothing). Only the
// re-seal path and delivery inputs recorded before v2 seals existed call it.
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
		return "", fmt.Errorf("open secret with key %s: it was not sealed for this workspace and webhook, or not with this key: %w", id, err)
	}
	return string(plain), nil
}

func openWith(aead cipher.AEAD, ct, aad []byte) ([]byte, error) {
	return aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad)
}

// NeedsReseal reports whether a sealed secret is not yet in the newest
// form: v1, or v2 under a key other than the active one.
func (r *Keyring) NeedsReseal(sealed string) bool {
	if sealed == "" {
		return false
	}
	return !strings.HasPrefix(sealed, SealPrefix+r.active+":")
}

// Reseal opens a sealed secret of the given workspace and webhook (v2, or
// v1 for the upgrade) and seals it again with the active key in format v2.
// A secret already in the newest form is returned unchanged (changed is
// false); "" stays "".
func (r *Keyring) Reseal(sealed, workspace, webhookID string) (out string, changed bool, err error) {
	if !r.NeedsReseal(sealed) {
		return sealed, false, nil
	}
	var plain string
	if strings.HasPrefix(sealed, LegacySealPrefix) {
		plain, err = r.OpenLegacy(sealed)
	} else {
		plain, err = r.Open(sealed, workspace, webhookID)
	}
	if err != nil {
		return "", false, err
	}
	out, err = r.Seal(plain, workspace, webhookID)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}
