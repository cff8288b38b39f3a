package endpoint

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	werrors "github.com/nlnwa/whatwg-url/errors"
	wurl "github.com/nlnwa/whatwg-url/url"
)

// Hosts are read the way browsers read them, by the WHATWG URL Standard
// (github.com/nlnwa/whatwg-url): percent-decoding, IDNA/UTS-46 mapping
// through golang.org/x/net/idna (fullwidth dots, enclosed alphanumerics,
// case), then the "ends in a number" rule that reads 2130706433, 0x7f.1,
// 0177.0.0.1 and 127.1 as IPv4 addresses. Go's own dialer reads some of
// these forms the same way (its IDNA mapping), others through the system
// resolver: so a URL whose browser reading is an IPv4 address other than
// the one it spells is refused, and the normalized host is the one the
// SSRF guard checks and the one a delivery dials.

// browserURL parses raw as a browser does.
func browserURL(raw string) (*wurl.Url, error) {
	u, err := wurl.Parse(raw)
	if err != nil {
		why := string(werrors.Type(err))
		if why == "" {
			why = err.Error()
		}
		return nil, fmt.Errorf("%w: url host is not a valid host name or address as browsers read it (%s)", ErrInvalid, strings.TrimSuffix(why, "."))
	}
	return u, nil
}

// checkDisguise refuses a host that browsers read as an IPv4 address it
// does not spell in four decimal parts (a number in disguise).
func checkDisguise(goHost string, u *wurl.Url) error {
	if !u.IsIPv4() {
		return nil
	}
	if a, err := netip.ParseAddr(goHost); err == nil && a.Is4() && a.String() == u.Hostname() {
		return nil
	}
	return fmt.Errorf("%w: url host %q is the IPv4 address %s written in another form (a single number, hex or octal parts, fewer than four parts, or look-alike characters); write an address as four decimal numbers", ErrInvalid, goHost, u.Hostname())
}

// NormalizeHost returns host as browsers read it: an IPv4 or IPv6 address
// in its canonical form (IPv6 without brackets), or the ASCII (punycode)
// lower-case domain name.
func NormalizeHost(host string) (string, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return a.WithZone("").String(), nil
	}
	if strings.ContainsAny(host, "/?#@\\") {
		return "", fmt.Errorf("%w: host %q holds URL delimiters", ErrInvalid, host)
	}
	u, err := browserURL("https://" + host + "/")
	if err != nil {
		return "", err
	}
	return strings.Trim(u.Hostname(), "[]"), nil
}

// Host returns the host of a URL as browsers read it (see NormalizeHost),
// without port or brackets, or "" when the URL has none.
func Host(raw string) string {
	if u, err := browserURL(raw); err == nil {
		return strings.Trim(u.Hostname(), "[]")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// DialURL checks raw like ValidateURL, except that an IPv4 address in
// disguise passes, and returns it with its host replaced by the host
// browsers read in it: a delivery dials (and the guard checks) the address
// a browser would reach.
func DialURL(raw string) (string, error) {
	u, b, err := parseURL(raw)
	if err != nil {
		return "", err
	}
	u.Host = b.Host()
	return u.String(), nil
}

// CanonicalURL is raw as browsers read it, without fragment: two URLs that
// differ only in host case, IDNA form or an explicit default port have the
// same canonical form.
func CanonicalURL(raw string) string {
	if u, err := browserURL(raw); err == nil {
		return u.Href(true)
	}
	return raw
}
