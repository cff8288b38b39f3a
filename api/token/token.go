// Package token mints and verifies the bearer tokens of the HTTP API:
// JWTs signed with HS256 (github.com/golang-jwt/jwt/v5) that name the one
// workspace they may act on, or carry the service scope, which may act on
// every workspace. Every token expires.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/event"
)

// ScopeService is the scope of a token that may act on every workspace:
// for HARi services that publish for many workspaces.
const ScopeService = "service"

// Audience is the audience every token must name, so a token signed with
// the same key for another purpose is not accepted here.
const Audience = "hari-webhooks"

// algorithm is the one signing method accepted (pinned: a token that
// claims "none", RS256 or anything else is refused).
const algorithm = "HS256"

// MinKeyBytes is the shortest signing key accepted (the size of HS256's
// hash output).
const MinKeyBytes = 32

var (
	// ErrKey is wrapped by every key configuration error.
	ErrKey = errors.New("api key")
	// ErrInvalid is wrapped by every refusal of a token.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired is the refusal of an expired token (it wraps ErrInvalid).
	ErrExpired = fmt.Errorf("%w: the token has expired", ErrInvalid)
)

// Claims are what a token says about its holder.
type Claims struct {
	// Workspace is the one workspace a workspace token may act on.
	Workspace string `json:"workspace,omitempty"`
	// Scope is ScopeService for a service token, empty otherwise.
	Scope string `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// Allows reports whether the holder may act on workspace ws.
func (c Claims) Allows(ws string) bool {
	return c.Scope == ScopeService || (c.Workspace != "" && c.Workspace == ws)
}

// Subject describes the holder in words, for messages and logs.
func (c Claims) Subject() string {
	if c.Scope == ScopeService {
		return "a service token"
	}
	return fmt.Sprintf("a token of workspace %q", c.Workspace)
}

// Keys is a ring of HS256 signing keys, each named by a key id (the
// token's "kid" header). The first key signs; every key verifies, so a key
// is rotated by putting a new one first and removing the old one once the
// tokens it signed have expired.
type Keys struct {
	active string
	keys   map[string][]byte
	now    func() time.Time
	// maxWorkspace and maxService bound a token's lifetime (exp - iat).
	maxWorkspace, maxService time.Duration
}

// Longest lifetimes (exp - iat) a token may have unless configured
// otherwise (HARI_TOKEN_MAX_TTL_WORKSPACE, HARI_TOKEN_MAX_TTL_SERVICE):
// a leaked token is valid until it expires, and there is no revocation
// list.
const (
	DefaultMaxWorkspaceTTL = 24 * time.Hour
	DefaultMaxServiceTTL   = 30 * 24 * time.Hour
)

// SetMaxLifetimes sets the longest lifetimes of workspace and service
// tokens, for minting and verifying; zero keeps a bound as it is.
func (k *Keys) SetMaxLifetimes(workspace, service time.Duration) {
	if workspace > 0 {
		k.maxWorkspace = workspace
	}
	if service > 0 {
		k.maxService = service
	}
}

func (k *Keys) maxLifetime(c Claims) time.Duration {
	if c.Scope == ScopeService {
		return k.maxService
	}
	return k.maxWorkspace
}

// ParseKeys reads a key list "kid:base64key[,kid:base64key...]" (standard
// base64, at least 32 bytes each).
func ParseKeys(spec string) (*Keys, error) {
	k := &Keys{keys: map[string][]byte{}, now: time.Now, maxWorkspace: DefaultMaxWorkspaceTTL, maxService: DefaultMaxServiceTTL}
	for i, part := range strings.Split(strings.TrimSpace(spec), ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" || b64 == "" {
			return nil, fmt.Errorf("%w: entry %d is not kid:base64key", ErrKey, i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s is not base64", ErrKey, id)
		}
		if len(raw) < MinKeyBytes {
			return nil, fmt.Errorf("%w: key %s is %d bytes, want at least %d", ErrKey, id, len(raw), MinKeyBytes)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("%w: key id %s appears twice", ErrKey, id)
		}
		k.keys[id] = raw
		if i == 0 {
			k.active = id
		}
	}
	return k, nil
}

// LoadKeys reads the key list from HARI_API_KEYS, or else from the file
// HARI_API_KEYS_FILE names (which only its owner may read), and the
// longest token lifetimes from HARI_TOKEN_MAX_TTL_WORKSPACE and
// HARI_TOKEN_MAX_TTL_SERVICE (Go durations; defaults 24h and 720h). It
// returns nil and no error when no key is set.
func LoadKeys() (*Keys, error) {
	k, err := loadKeys()
	if k == nil || err != nil {
		return k, err
	}
	var max [2]time.Duration
	for i, name := range []string{"HARI_TOKEN_MAX_TTL_WORKSPACE", "HARI_TOKEN_MAX_TTL_SERVICE"} {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: %s=%q is not a positive duration (say 24h)", ErrKey, name, v)
		}
		max[i] = d
	}
	k.SetMaxLifetimes(max[0], max[1])
	return k, nil
}

func loadKeys() (*Keys, error) {
	if spec := os.Getenv("HARI_API_KEYS"); spec != "" {
		return ParseKeys(spec)
	}
	path := os.Getenv("HARI_API_KEYS_FILE")
	if path == "" {
		return nil, nil
	}
	b, err := codec.ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: HARI_API_KEYS_FILE: %v", ErrKey, err)
	}
	return ParseKeys(string(b))
}

// NewKeySpec returns a fresh key list entry "kid:base64key" of 32 random
// bytes.
func NewKeySpec(id string) (string, error) {
	b := make([]byte, MinKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b), nil
}

// ActiveKeyID names the key new tokens are signed with.
func (k *Keys) ActiveKeyID() string { return k.active }

// MintWorkspace returns a token for workspace ws that expires after ttl.
func (k *Keys) MintWorkspace(ws string, ttl time.Duration) (string, error) {
	if err := event.ValidateWorkspace(ws); err != nil {
		return "", err
	}
	return k.mint(Claims{Workspace: ws}, ttl)
}

// MintService returns a service token (every workspace) that expires
// after ttl.
func (k *Keys) MintService(ttl time.Duration) (string, error) {
	return k.mint(Claims{Scope: ScopeService}, ttl)
}

func (k *Keys) mint(c Claims, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("ttl must be positive, got %s", ttl)
	}
	if max := k.maxLifetime(c); ttl > max {
		return "", fmt.Errorf("ttl: %s is longer than the %s a %s may live (HARI_TOKEN_MAX_TTL_WORKSPACE, HARI_TOKEN_MAX_TTL_SERVICE)", ttl, max, kind(c))
	}
	now := k.now().Truncate(time.Second)
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	c.Audience = jwt.ClaimStrings{Audience}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = k.active
	return t.SignedString(k.keys[k.active])
}

// Verify checks a token's signature (HS256 only, with the key its "kid"
// names), its expiry (required), its audience and its claims, and returns
// the claims. Every refusal wraps ErrInvalid.
func (k *Keys) Verify(raw string) (Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := k.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{algorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(Audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(k.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, ErrExpired
		}
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: claim iat (issued at) is required", ErrInvalid)
	}
	if life, max := c.ExpiresAt.Sub(c.IssuedAt.Time), k.maxLifetime(c); life > max {
		return Claims{}, fmt.Errorf("%w: the token lives %s (exp - iat), longer than the %s a %s may", ErrInvalid, life, max, kind(c))
	}
	switch {
	case c.Scope == ScopeService && c.Workspace == "":
	case c.Scope == "" && c.Workspace != "":
		if err := event.ValidateWorkspace(c.Workspace); err != nil {
			return Claims{}, fmt.Errorf("%w: claim workspace: %v", ErrInvalid, err)
		}
	default:
		return Claims{}, fmt.Errorf("%w: a token names either one workspace or scope %q", ErrInvalid, ScopeService)
	}
	return c, nil
}

func kind(c Claims) string {
	if c.Scope == ScopeService {
		return "service token"
	}
	return "workspace token"
}

// FromHeader takes the token out of an Authorization header value of the
// scheme Bearer (matched without regard to case, as RFC 9110 says).
func FromHeader(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}
