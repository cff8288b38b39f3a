package netguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/delivery"
)

func TestCheck(t *testing.T) {
	g := New(nil)
	blocked := map[string]string{
		"127.0.0.1":           "loopback",
		"127.8.9.10":          "loopback",
		"10.0.0.5":            "private (RFC 1918)",
		"172.16.0.1":          "private (RFC 1918)",
		"172.31.255.255":      "private (RFC 1918)",
		"192.168.1.1":         "private (RFC 1918)",
		"169.254.169.254":     "link-local (cloud metadata)",
		"100.64.0.1":          "carrier-grade NAT",
		"0.0.0.0":             "unspecified",
		"224.0.0.1":           "multicast",
		"255.255.255.255":     "reserved",
		"::":                  "unspecified",
		"::1":                 "loopback",
		"fe80::1":             "link-local",
		"fd00::1":             "unique-local",
		"ff02::1":             "multicast",
		"::ffff:10.0.0.5":     "private (RFC 1918) via IPv4-mapped",
		"::ffff:127.0.0.1":    "loopback via IPv4-mapped",
		"64:ff9b::a9fe:a9fe":  "link-local (cloud metadata) via NAT64",
		"2002:0a00:0005::1":   "private (RFC 1918) via 6to4",
		"2002:7f00:0001::":    "loopback via 6to4",
		"2001:0:4136:e378::1": "Teredo",
		"64:ff9b:1::1":        "local-use NAT64",
		// IPv4 inside the other IPv6 forms (issue 11, finding 7).
		"::127.0.0.1":            "loopback via IPv4-compatible",
		"::169.254.169.254":      "link-local (cloud metadata) via IPv4-compatible",
		"::10.0.0.5":             "private (RFC 1918) via IPv4-compatible",
		"::ffff:0:127.0.0.1":     "loopback via IPv4-translated",
		"::ffff:0:a9fe:a9fe":     "link-local (cloud metadata) via IPv4-translated",
		"::ffff:0:192.168.0.1":   "private (RFC 1918) via IPv4-translated",
		"3fff::1":                "documentation",
		"3fff:fff:ffff::1":       "documentation",
		"2001:2::1":              "benchmarking",
		"2001:2:0:ffff::1":       "benchmarking",
		"2001:10::1":             "ORCHID (deprecated)",
		"2001:1f::1":             "ORCHID (deprecated)",
		"2001:20::1":             "ORCHIDv2",
		"2001:2f:ffff::1":        "ORCHIDv2",
		"5f00::1":                "SRv6 SIDs",
		"5f00:ffff::1":           "SRv6 SIDs",
		"168.63.129.16":          "cloud platform address (Azure WireServer)",
		"::ffff:168.63.129.16":   "cloud platform address (Azure WireServer) via IPv4-mapped",
		"::ffff:0:168.63.129.16": "cloud platform address (Azure WireServer) via IPv4-translated",
	}
	for ip, why := range blocked {
		err := g.Check(netip.MustParseAddr(ip))
		var be *delivery.BlockedError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: got %v, want blocked as %s", ip, err, why)
		}
	}
	if err := g.Check(netip.MustParseAddr("10.0.0.5")); err == nil || err.Error() != "destination 10.0.0.5 is in a blocked range (private (RFC 1918))" {
		t.Errorf("message: %v", err)
	}
	for _, ip := range []string{"93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:0808:0808::1", "172.32.0.1", "100.128.0.1",
		// Neighbours of the new ranges stay reachable.
		"168.63.129.15", "168.63.129.17", "::8.8.8.8", "::ffff:0:8.8.8.8", "3fff:1000::1", "2001:3::1", "2001:30::1", "5f01::1"} {
		if err := g.Check(netip.MustParseAddr(ip)); err != nil {
			t.Errorf("%s: public address refused: %v", ip, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	allow, err := ParseAllow("127.0.0.1, 10.1.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	g := New(allow)
	for ip, ok := range map[string]bool{"127.0.0.1": true, "::ffff:127.0.0.1": true, "127.0.0.2": false, "10.1.2.3": true, "10.2.0.1": false, "::1": false} {
		if err := g.Check(netip.MustParseAddr(ip)); (err == nil) != ok {
			t.Errorf("%s: got %v, want allowed=%v", ip, err, ok)
		}
	}
	if _, err := ParseAllow("10.0.0.0/33"); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

func TestCheckHost(t *testing.T) {
	g := New(nil)
	for host, bad := range map[string]bool{"10.0.0.5": true, "[::1]": true, "::1": true, "169.254.169.254": true, "hooks.example.com": false, "8.8.8.8": false,
		"[::127.0.0.1]": true, "[::ffff:0:7f00:1]": true, "[3fff::1]": true, "168.63.129.16": true, "134744072": false} {
		if err := g.CheckHost(host); (err != nil) != bad {
			t.Errorf("%s: got %v, want blocked=%v", host, err, bad)
		}
	}
	// Hosts that browsers (and Go's IDNA mapping or resolver) read as an
	// internal address are refused, naming the address they stand for.
	for _, host := range []string{"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127\uff0e0\u30020\uff611", "\u2460\u2461\u2466.0.0.1"} {
		err := g.CheckHost(host)
		want := "host " + strconv.Quote(host) + " is 127.0.0.1: destination 127.0.0.1 is in a blocked range (loopback)"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", host, err, want)
		}
	}
}

// mapResolver answers DNS from a map, like a rebinding attacker's server.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// The guard runs on the address actually dialled: a host name that
// resolves to an internal address is refused before any connection, and
// the failure is final (not retried).
func TestGuardOnDialledAddress(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	dns := mapResolver{
		"rebind.example": {netip.MustParseAddr("10.0.0.5")},
		"example.com":    {netip.MustParseAddr("127.0.0.1")}, // the test certificate's name
	}
	client := func(allow ...string) *http.Client {
		var prefixes []netip.Prefix
		for _, a := range allow {
			prefixes = append(prefixes, netip.MustParsePrefix(a))
		}
		return activities.NewHTTPClient(activities.ClientOptions{Control: New(prefixes).Control, Resolver: dns, TLS: &tls.Config{RootCAs: pool}})
	}
	tests := []struct {
		name   string
		client *http.Client
		url    string
		want   delivery.Class
		msg    string
	}{
		{"name resolving to a private address", client("127.0.0.1/32"), "https://rebind.example:" + port, delivery.ClassBlocked, "destination 10.0.0.5 is in a blocked range"},
		{"literal loopback without allow-list", client(), srv.URL, delivery.ClassBlocked, "destination 127.0.0.1 is in a blocked range (loopback)"},
		{"name resolving to loopback without allow-list", client(), "https://example.com:" + port, delivery.ClassBlocked, "127.0.0.1"},
		{"allow-list lets 127.0.0.1 through", client("127.0.0.1/32"), "https://example.com:" + port, delivery.ClassNone, ""},
	}
	for _, tt := range tests {
		a := activities.Send(context.Background(), tt.client, activities.Request{URL: tt.url, Body: []byte(`{}`), Attempt: 1})
		if a.Class != tt.want || !strings.Contains(a.Error, tt.msg) {
			t.Errorf("%s: got class %q (%s), want %q with %q", tt.name, a.Class, a.Error, tt.want, tt.msg)
		}
		if tt.want == delivery.ClassBlocked && (a.Retryable() || a.ErrorType() != delivery.ErrTypeInvalidTarget) {
			t.Errorf("%s: a blocked destination must be a final (non-retryable) outcome", tt.name)
		}
	}
}
