package endpoint

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://hooks.example.com/hari", ""},
		{"HTTPS://hooks.example.com:8443/x?y=1", ""},
		{"https://127.0.0.1:9443/webhooks/hari", ""},
		{"http://hooks.example.com/hari", "must use https (got scheme http)"},
		{"ftp://hooks.example.com", "must use https"},
		{"hooks.example.com/hari", "must use https (got scheme none)"},
		{"", "url is required"},
		{"https:///path", "has no host"},
		{"https://user:pw@hooks.example.com", "credentials"},
		{"https://hooks.example.com/#frag", "fragment"},
		{"https://exa mple.com", "does not parse"},
		{"https://x.com/" + strings.Repeat("a", MaxURLLen), "longer than"},
	}
	for _, tt := range tests {
		err := ValidateURL(tt.url)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: got %v, want valid", tt.url, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: got %v, want an error with %q", tt.url, err, tt.wantErr)
		case err != nil && !errors.Is(err, ErrInvalid):
			t.Errorf("%q: %v does not wrap ErrInvalid", tt.url, err)
		}
	}
}

func TestMaskSecret(t *testing.T) {
	for in, want := range map[string]string{"": "", "short": "********", "whsec_abcdefgh1234": "********1234"} {
		if got := MaskSecret(in); got != want {
			t.Errorf("MaskSecret(%q) = %q, want %q", in, got, want)
		}
	}
}
