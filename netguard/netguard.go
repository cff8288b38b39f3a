// Package netguard keeps webhook requests away from internal networks (the
// SSRF guard). It checks the address that is actually dialled, after DNS,
// so a host name that resolves (or re-resolves) to an internal address is
// refused as surely as a literal one.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/endpoint"
)

type blockedRange struct {
	prefix netip.Prefix
	why    string
}

func mustRanges(pairs ...string) []blockedRange {
	out := make([]blockedRange, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, blockedRange{prefix: netip.MustParsePrefix(pairs[i]), why: pairs[i+1]})
	}
	return out
}

// blocked lists every range a webhook may not reach: the non-global
// entries of IANA's IPv4 and IPv6 special-purpose address registries, and
// cloud platform addresses. IPv6 forms that embed an IPv4 address (mapped,
// compatible, translated, NAT64, 6to4) are unwrapped and checked as IPv4.
var blocked = mustRanges(
	"0.0.0.0/8", "unspecified (this network)",
	"10.0.0.0/8", "private (RFC 1918)",
	"100.64.0.0/10", "carrier-grade NAT (RFC 6598)",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local (cloud metadata)",
	"172.16.0.0/12", "private (RFC 1918)",
	"192.0.0.0/24", "IETF protocol assignments",
	"192.0.2.0/24", "documentation (TEST-NET-1)",
	"192.88.99.0/24", "6to4 relay anycast",
	"192.168.0.0/16", "private (RFC 1918)",
	"198.18.0.0/15", "benchmarking",
	"168.63.129.16/32", "cloud platform address (Azure WireServer)",
	"198.51.100.0/24", "documentation (TEST-NET-2)",
	"203.0.113.0/24", "documentation (TEST-NET-3)",
	"224.0.0.0/4", "multicast",
	"240.0.0.0/4", "reserved",
	"::/128", "unspecified",
	"::1/128", "loopback",
	"100::/64", "discard-only",
	"2001::/32", "Teredo",
	"2001:2::/48", "benchmarking",
	"2001:10::/28", "ORCHID (deprecated)",
	"2001:20::/28", "ORCHIDv2",
	"2001:db8::/32", "documentation",
	"3fff::/20", "documentation",
	"5f00::/16", "SRv6 SIDs",
	"64:ff9b:1::/48", "local-use NAT64",
	"fc00::/7", "unique-local",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local",
	"ff00::/8", "multicast",
)

var (
	mapped     = netip.MustParsePrefix("::ffff:0:0/96")
	compatible = netip.MustParsePrefix("::/96")           // ::a.b.c.d (RFC 4291, deprecated)
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // ::ffff:0:a.b.c.d (RFC 2765 SIIT)
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4     = netip.MustParsePrefix("2002::/16")
)

// Guard decides which destination addresses may be dialled.
type Guard struct {
	allow []netip.Prefix
}

// New returns a guard that refuses every internal range except those in
// allow (for development and tests; production allows none).
func New(allow []netip.Prefix) *Guard { return &Guard{allow: allow} }

// ParseAllow reads a comma-separated CIDR list ("127.0.0.1/32,::1/128").
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			if a, err := netip.ParseAddr(part); err == nil {
				part = netip.PrefixFrom(a, a.BitLen()).String()
			}
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("allow-list entry %q is not a CIDR: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check returns a *delivery.BlockedError when addr is in a blocked range
// and not allowed.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) || (addr.Is4In6() && p.Contains(addr.Unmap())) {
			return nil
		}
	}
	if why, bad := classify(addr); bad {
		return &delivery.BlockedError{Addr: addr.String(), Reason: "in a blocked range (" + why + ")"}
	}
	return nil
}

func classify(addr netip.Addr) (string, bool) {
	if addr.Is6() && (addr == netip.IPv6Unspecified() || addr == netip.IPv6Loopback()) {
		return blockedWhy(addr) // inside ::/96, but named for what they are
	}
	if embedded, via, ok := embeddedIPv4(addr); ok {
		if why, bad := classify(embedded); bad {
			return why + " via " + via, true
		}
		return "", false
	}
	return blockedWhy(addr)
}

func blockedWhy(addr netip.Addr) (string, bool) {
	for _, r := range blocked {
		if r.prefix.Contains(addr) {
			return r.why, true
		}
	}
	if addr.Is4() && addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "broadcast", true
	}
	return "", false
}

// embeddedIPv4 unwraps the IPv4 address inside IPv4-mapped, IPv4-compatible,
// IPv4-translated, NAT64 and 6to4 IPv6 addresses.
func embeddedIPv4(addr netip.Addr) (netip.Addr, string, bool) {
	if !addr.Is6() {
		return netip.Addr{}, "", false
	}
	b := addr.As16()
	switch {
	case mapped.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "IPv4-mapped", true
	case translated.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "IPv4-translated", true
	case compatible.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "IPv4-compatible", true
	case nat64.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64", true
	case sixTo4.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4", true
	}
	return netip.Addr{}, "", false
}

// CheckHost refuses a URL host that is, as browsers read it, a blocked IP
// address (configuration time): a literal, or a number in disguise such as
// 2130706433, 0x7f.1, 127.1 or ①②⑦.0.0.1 (endpoint.NormalizeHost). Host
// names pass: they are checked when dialled, which stays the enforcement.
func (g *Guard) CheckHost(host string) error {
	norm, err := endpoint.NormalizeHost(host)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(norm)
	if err != nil {
		return nil
	}
	if err := g.Check(addr); err != nil {
		if plain := strings.Trim(host, "[]"); plain != norm && plain != addr.String() {
			return fmt.Errorf("host %q is %s: %w", host, norm, err)
		}
		return err
	}
	return nil
}

// Control is a net.Dialer Control hook: it runs after DNS on the address
// about to be dialled.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("netguard: %w", err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("netguard: dialled address %q is not an IP", host)
	}
	return g.Check(addr)
}

// Resolver looks up host names; *net.Resolver is one, tests use a map.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}
