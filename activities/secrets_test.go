package activities

import (
	"errors"
	"strings"
	"testing"
)

// opener records which door a sealed secret went through.
type opener struct{ bound, legacy []string }

func (o *opener) Open(sealed, ws, id, url string) (string, error) {
	o.bound = append(o.bound, sealed+"@"+ws+"/"+id+"@"+url)
	if strings.HasPrefix(sealed, "sealed:v1:") {
		return "", errors.New("v1 seals do not open here")
	}
	return "plain-" + ws + "-" + id, nil
}

func (o *opener) OpenLegacy(sealed string) (string, error) {
	o.legacy = append(o.legacy, sealed)
	return "legacy-plain", nil
}

// Current inputs (Bound) open every seal for the delivery's workspace and
// webhook, v1 included (which then fails); only inputs recorded before v2
// existed may open a v1 seal without binding. The secret header follows
// NoSecretHeader.
func TestRequestOpensSealsForTheDeliveryOnly(t *testing.T) {
	for _, tt := range []struct {
		name       string
		in         DeliverInput
		wantSecret string
		wantErr    bool
		wantLegacy int
	}{
		{"bound v2", DeliverInput{Workspace: "acme", WebhookID: "wh_1", SealedSecret: "sealed:v2:k:x", Bound: true}, "plain-acme-wh_1", false, 0},
		{"bound v1 refused", DeliverInput{Workspace: "acme", WebhookID: "wh_1", SealedSecret: "sealed:v1:k:x", Bound: true}, "", true, 0},
		{"recorded before v2, v1", DeliverInput{Workspace: "acme", WebhookID: "wh_1", SealedSecret: "sealed:v1:k:x"}, "legacy-plain", false, 1},
		{"recorded before v2, v2", DeliverInput{Workspace: "acme", WebhookID: "wh_1", SealedSecret: "sealed:v2:k:x"}, "plain-acme-wh_1", false, 0},
		{"direct plaintext", DeliverInput{Workspace: "acme", WebhookID: "t", Secret: "s3cret-plain", Bound: true}, "s3cret-plain", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := &opener{}
			a := &Activities{Secrets: o, AllowDirectSecrets: true}
			tt.in.URL, tt.in.DeliveryID = "https://hooks.example.com/x", "e:wh"
			req, err := a.request(tt.in, 1)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if req.Secret != tt.wantSecret || len(o.legacy) != tt.wantLegacy {
				t.Errorf("got secret %q after %d legacy opens, want %q after %d", req.Secret, len(o.legacy), tt.wantSecret, tt.wantLegacy)
			}
		})
	}
	a := &Activities{Secrets: &opener{}, AllowDirectSecrets: true}
	for _, no := range []bool{false, true} {
		req, err := a.request(DeliverInput{URL: "https://hooks.example.com/x", DeliveryID: "e:wh", Secret: "s3cret-plain", NoSecretHeader: no}, 1)
		if err != nil {
			t.Fatal(err)
		}
		hr, err := NewRequest(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got := hr.Header.Get("X-Webhook-Secret"); (got == "") != no || hr.Header.Get("X-Webhook-Signature") == "" {
			t.Errorf("NoSecretHeader %v: X-Webhook-Secret %q, signature %q", no, got, hr.Header.Get("X-Webhook-Signature"))
		}
	}
}

// Direct mode is off unless allowed: by default a direct target's
// plaintext secret is refused before any attempt, with the advice; a
// sealed secret is not affected.
func TestRequestRefusesDirectSecretsByDefault(t *testing.T) {
	in := DeliverInput{Workspace: "acme", WebhookID: "t", URL: "https://hooks.example.com/x", DeliveryID: "e:t", Secret: "s3cret-plain", Bound: true}
	for _, tt := range []struct {
		name    string
		allow   bool
		wantErr bool
	}{
		{"unset refuses", false, true},
		{"allowed", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &Activities{Secrets: &opener{}, AllowDirectSecrets: tt.allow}
			req, err := a.request(in, 1)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && (!strings.Contains(err.Error(), ErrDirectSecretRefused) || req.Secret != "") {
				t.Errorf("got %q with secret %q, want %q and no secret", err, req.Secret, ErrDirectSecretRefused)
			}
		})
	}
	a := &Activities{Secrets: &opener{}}
	sealed := DeliverInput{Workspace: "acme", WebhookID: "wh_1", URL: "https://hooks.example.com/x", DeliveryID: "e:wh_1", SealedSecret: "sealed:v2:k:x", Bound: true}
	if _, err := a.request(sealed, 1); err != nil {
		t.Errorf("sealed secret with direct mode off: got %v, want no error", err)
	}
}
