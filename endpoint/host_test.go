package endpoint

import (
	"errors"
	"strings"
	"testing"
)

// Hosts a browser (and, for some, Go's resolver) reads as an IPv4 address
// they do not spell are refused with the address they stand for.
func TestValidateURLRefusesDisguisedAddresses(t *testing.T) {
	for _, host := range []string{
		"2130706433",               // one number
		"0x7f.1",                   // hex, two parts
		"0177.0.0.1",               // octal
		"127.1",                    // two parts
		"0x7f000001",               // one hex number
		"127\uff0e0\uff0e0\uff0e1", // fullwidth full stops
		"127\u30020\u30020\u30021", // ideographic full stops
		"127\uff610\uff610\uff611", // halfwidth ideographic full stops
		"\u2460\u2461\u2466.0.0.1", // enclosed alphanumerics ①②⑦
		"\uff11\uff12\uff17.0.0.1", // fullwidth digits
		"127.0.0.1.",               // trailing dot
	} {
		err := ValidateURL("https://" + host + "/hook")
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "is the IPv4 address 127.0.0.1 written in another form") {
			t.Errorf("%q: got %v, want refused as 127.0.0.1 in disguise", host, err)
		}
	}
	// Another address in disguise is refused too, naming that address.
	if err := ValidateURL("https://134744072/"); err == nil || !strings.Contains(err.Error(), "8.8.8.8") {
		t.Errorf("134744072: got %v, want refused as 8.8.8.8 in disguise", err)
	}
}

func TestValidateURLBrowserHostRules(t *testing.T) {
	for raw, want := range map[string]string{
		"https://0x100000000/":           "greater than 255",
		"https://1.2.3.4.5/":             "more than four parts",
		"https://09.1/":                  "non-numeric",
		"https://xn--abc/":               "ToASCII",
		"https://hooks.example.com/ok":   "",
		"https://b\u00fccher.de/hook":    "", // an IDN stays valid
		"https://HOOKS.Example.com/a":    "",
		"https://[::ffff:7f00:1]:8/a":    "", // literal IPv6: the guard's to judge
		"https://127.0.0.1:9443/a":       "",
		"https://hooks\uff0eexample.com": "", // look-alike dots in a name: the same name
	} {
		err := ValidateURL(raw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: got %v, want error containing %q", raw, err, want)
		}
	}
}

func TestNormalizedHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://0x7f.1:8443/a":                "127.0.0.1",
		"https://\u2460\u2461\u2466.0.0.1/":    "127.0.0.1",
		"https://[::FFFF:127.0.0.1]/":          "::ffff:7f00:1",
		"https://HOOKS.example.com/":           "hooks.example.com",
		"https://b\u00fccher.de/":              "xn--bcher-kva.de",
		"https://hooks\uff0eexample\u3002com/": "hooks.example.com",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"2130706433": "127.0.0.1", "[::1]": "::1", "::1": "::1", "127\u30020.0.1": "127.0.0.1", "Example.COM": "example.com"} {
		if got, err := NormalizeHost(in); err != nil || got != want {
			t.Errorf("NormalizeHost(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if got, err := DialURL("https://0x7f.1:8443/a?b=1"); err != nil || got != "https://127.0.0.1:8443/a?b=1" {
		t.Errorf("DialURL: got %q, %v, want https://127.0.0.1:8443/a?b=1", got, err)
	}
	if CanonicalURL("https://Hooks.Example.com:443/a") != CanonicalURL("https://hooks.example.com/a") {
		t.Error("CanonicalURL: host case and default port must not matter")
	}
	if CanonicalURL("https://hooks.example.com/a") == CanonicalURL("https://hooks.example.com/b") {
		t.Error("CanonicalURL: different paths must differ")
	}
}

// The event workflow's check keeps the rules inputs were recorded under:
// a disguised address passes it (it is dialled as the address browsers
// read, where the guard refuses it), everything else Validate refuses for
// Go's reading of the URL still fails.
func TestValidateRecorded(t *testing.T) {
	disguised := Target{ID: "t", URL: "https://0x7f.1/hook"}
	if err := disguised.Validate(); err == nil {
		t.Error("Validate: a disguised address passed")
	}
	if err := disguised.ValidateRecorded(); err != nil {
		t.Errorf("ValidateRecorded: got %v, want the recorded rules (Go's reading only)", err)
	}
	for _, bad := range []Target{{ID: "t", URL: "http://hooks.example.com"}, {ID: "t", URL: "https://u:p@hooks.example.com"}, {ID: "", URL: "https://hooks.example.com"}, {ID: "t", URL: "https://hooks.example.com/#f"}} {
		if err := bad.ValidateRecorded(); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want invalid", bad, err)
		}
	}
}
