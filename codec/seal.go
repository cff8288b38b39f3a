package codec

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealAAD binds sealed secrets to their purpose: a sealed secret cannot be
// passed off as a payload or the other way round.
var sealAAD = []byte("hari-webhook-secret/v1")

const sealPrefix = "sealed:v1:"

// Seal encrypts a webhook secret under the active key. The result is
// opaque text that is safe to store in workflow state and return from a
// query: only a holder of the key ring (the worker, at delivery time) can
// open it.
func (r *Keyring) Seal(secret string) (string, error) {
	aead := r.keys[r.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	ct := aead.Seal(nonce, nonce, []byte(secret), sealAAD)
	return sealPrefix + r.active + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a sealed secret with whichever key of the ring sealed it.
func (r *Keyring) Open(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return "", errors.New("open secret: not a sealed secret")
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
	plain, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], sealAAD)
	if err != nil {
		return "", fmt.Errorf("open secret with key %s: %w", id, err)
	}
	return string(plain), nil
}
