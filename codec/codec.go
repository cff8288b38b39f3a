// Package codec encrypts every Temporal payload (workflow inputs and
// results, activity arguments, heartbeat details, query results, failure
// messages) with AES-256-GCM, so secrets and record fields never sit in
// Temporal's database or Web UI in plaintext. Each payload names the key
// that sealed it; any key of the ring opens it, so keys can be rotated.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Metadata keys and values of an encrypted payload; the same names as
// Temporal's encryption samples in every SDK.
const (
	MetadataEncoding      = "encoding"
	MetadataEncryptionKey = "encryption-key-id"
	EncodingEncrypted     = "binary/encrypted"
)

// ErrKey is wrapped by every key configuration error.
var ErrKey = errors.New("codec key")

// Keyring holds the active key and older keys that still decrypt.
type Keyring struct {
	active string
	keys   map[string]cipher.AEAD
}

// ParseKeys reads a key list "id:base64key[,id:base64key...]"; the first key
// encrypts, all decrypt. Each key is 32 bytes (AES-256), in standard base64.
func ParseKeys(spec string) (*Keyring, error) {
	r := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(strings.TrimSpace(spec), ",") {
		part = strings.TrimSpace(part)
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" || b64 == "" {
			return nil, fmt.Errorf("%w: entry %d is not id:base64key", ErrKey, i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s is not base64", ErrKey, id)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("%w: key %s is %d bytes, want 32", ErrKey, id, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: %v", ErrKey, id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: %v", ErrKey, id, err)
		}
		if _, dup := r.keys[id]; dup {
			return nil, fmt.Errorf("%w: key id %s appears twice", ErrKey, id)
		}
		r.keys[id] = aead
		if i == 0 {
			r.active = id
		}
	}
	return r, nil
}

// LoadKeys reads the key list from the environment variable HARI_CODEC_KEYS,
// or else from the file that HARI_CODEC_KEYS_FILE names.
func LoadKeys() (*Keyring, error) {
	if spec := os.Getenv("HARI_CODEC_KEYS"); spec != "" {
		return ParseKeys(spec)
	}
	if path := os.Getenv("HARI_CODEC_KEYS_FILE"); path != "" {
		return LoadKeyFile(path)
	}
	return nil, fmt.Errorf("%w: set HARI_CODEC_KEYS (id:base64-32-byte-key) or HARI_CODEC_KEYS_FILE", ErrKey)
}

// LoadKeyFile reads a key list from a file that only its owner may read
// or write (ReadKeyFile).
func LoadKeyFile(path string) (*Keyring, error) {
	b, err := ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return ParseKeys(string(b))
}

// ReadKeyFile reads a file of secret keys (at most 1 MiB): one with any
// permission for group or others is refused, with the fix (chmod 600) in
// the error. Every key file of the service goes through it.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %v", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o, which lets group or others read or change it; run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", path, err)
	}
	return b, nil
}

// NewKeySpec returns a fresh key list entry "id:base64key".
func NewKeySpec(id string) (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(k), nil
}

// ActiveKeyID names the key new payloads are sealed with.
func (r *Keyring) ActiveKeyID() string { return r.active }

// ErrPlainPayload is returned by Decode for a payload that is not
// encrypted with this codec, unless PassPlain is set.
var ErrPlainPayload = errors.New("payload is not encrypted with the HARi codec; start workflows through a client with the codec")

// Codec is a converter.PayloadCodec over a Keyring.
//
// Decode refuses payloads that are not encrypted with the codec: whoever
// can reach the namespace but holds no key cannot hand the worker an input
// (a workflow start, an update, a signal) of their own making. Only the
// codec endpoint, which shows payloads to the Web UI and changes nothing,
// passes plain payloads through (PassPlain).
type Codec struct {
	Keys *Keyring
	// PassPlain returns payloads that are not encrypted unchanged instead
	// of refusing them.
	PassPlain bool
}

// Encode seals each payload (its metadata and data) under the active key.
func (c Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.Keys.keys[c.Keys.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding:      []byte(EncodingEncrypted),
				MetadataEncryptionKey: []byte(c.Keys.active),
			},
			Data: aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

// Decode opens sealed payloads. A payload that is not encrypted is
// refused (ErrPlainPayload), or passed through unchanged with PassPlain.
func (c Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			if !c.PassPlain {
				return nil, fmt.Errorf("decode payload: %w", ErrPlainPayload)
			}
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataEncryptionKey])
		aead, ok := c.Keys.keys[id]
		if !ok {
			return nil, fmt.Errorf("decode payload: unknown encryption key id %q", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("decode payload: ciphertext too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], nil)
		if err != nil {
			return nil, fmt.Errorf("decode payload with key %s: %w", id, err)
		}
		var dp commonpb.Payload
		if err := dp.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("decode payload: %w", err)
		}
		out[i] = &dp
	}
	return out, nil
}

// DataConverter wraps Temporal's default converter with the codec; it
// refuses payloads that are not encrypted with the codec.
func DataConverter(keys *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codec{Keys: keys})
}

// FailureConverter encodes failure messages and stack traces with the same
// codec, so an error that quotes a payload leaks nothing.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}
