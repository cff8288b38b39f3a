package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hari-crm/webhooks/activities"
	"github.com/hari-crm/webhooks/codec"
	"github.com/hari-crm/webhooks/endpoint"
	"github.com/hari-crm/webhooks/signature"
)

const victimSecret = "whsec_dmljdGltLXNlY3JldC0xMjM0NTY3OA=="

// runRaw runs the real EventWorkflow on an input given as a raw client
// would send it (any JSON shape), with the real activities.
func runRaw(t *testing.T, acts *activities.Activities, in any, legacy bool) EventResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	env.RegisterActivity(acts)
	if legacy {
		env.OnGetVersion(changeRoutedTargets, workflow.DefaultVersion, versionRoutedTargets).Return(workflow.DefaultVersion)
	}
	env.ExecuteWorkflow(EventWorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func newRing(t *testing.T) *codec.Keyring {
	t.Helper()
	spec, err := codec.NewKeySpec("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// The attack of issue 11, finding 1: an attacker copies a victim's sealed
// secret (as shown by a decoded registry state) into an event of their own
// that delivers to their URL. The real EventWorkflow, with a worker that
// holds the key ring, must send them nothing: no plaintext, no signature.
func TestEventWorkflowRefusesAStolenSealedSecret(t *testing.T) {
	keys := newRing(t)
	victimURL := "https://victim.example/hooks"
	victimSealed, err := keys.Seal(victimSecret, "victim", "wh_victim", victimURL)
	if err != nil {
		t.Fatal(err)
	}
	ev := testEvent()
	ev.Workspace = "attacker"
	victimEv := testEvent()
	victimEv.Workspace = "victim"

	tests := []struct {
		name      string
		input     func(url string) any
		wantError string
	}{
		{
			name: "sealed_secret in a direct target",
			input: func(url string) any {
				return map[string]any{"event": ev, "targets": []map[string]any{{"id": "steal", "url": url, "sealed_secret": victimSealed}}}
			},
			wantError: "sealed_secret: a direct target cannot carry a sealed secret",
		},
		{
			name: "previous_sealed_secret in a direct target",
			input: func(url string) any {
				return map[string]any{"event": ev, "targets": []map[string]any{{"id": "steal", "url": url, "previous_sealed_secret": victimSealed, "previous_until": time.Now().Add(time.Hour)}}}
			},
			wantError: "previous_sealed_secret: a direct target cannot carry a sealed secret",
		},
		{
			name: "a differently cased key in a direct target",
			input: func(url string) any {
				return map[string]any{"event": ev, "targets": []map[string]any{{"id": "steal", "url": url, "Sealed_Secret": victimSealed}}}
			},
			wantError: "sealed_secret: a direct target cannot carry a sealed secret",
		},
		{
			name: "routed target in the attacker's workspace",
			input: func(url string) any {
				return map[string]any{"event": ev, "routed": []map[string]any{{"id": "wh_victim", "url": url, "sealed_secret": victimSealed}}}
			},
			wantError: "cannot be opened for workspace attacker",
		},
		{
			name: "routed target in the victim's workspace under another webhook id",
			input: func(url string) any {
				return map[string]any{"event": victimEv, "routed": []map[string]any{{"id": "wh_attacker", "url": url, "sealed_secret": victimSealed}}}
			},
			wantError: "secret of webhook wh_attacker cannot be opened",
		},
		{
			// Issue 11 review, finding 1: the victim's workspace and webhook
			// id, the attacker's URL. The seal is bound to the victim's URL.
			name: "routed target with the victim's workspace and webhook id but another URL",
			input: func(url string) any {
				return map[string]any{"event": victimEv, "routed": []map[string]any{{"id": "wh_victim", "url": url, "sealed_secret": victimSealed}}}
			},
			wantError: "secret of webhook wh_victim cannot be opened",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newScripted(t, 200)
			acts := &activities.Activities{Client: tlsClient(t, rcv.srv), Secrets: keys, AttemptTimeout: time.Second}
			res := runRaw(t, acts, tt.input(rcv.srv.URL+"/collect"), false)
			if n := rcv.calls(); n != 0 {
				t.Errorf("the attacker's receiver got %d requests, want 0", n)
			}
			if len(res.Deliveries) != 1 {
				t.Fatalf("got %d deliveries, want 1", len(res.Deliveries))
			}
			d := res.Deliveries[0]
			if d.Status != StatusFailed || !strings.Contains(d.Error, tt.wantError) {
				t.Errorf("got status %s with error %q, want failed with %q", d.Status, d.Error, tt.wantError)
			}
			if strings.Contains(d.Error, victimSecret) {
				t.Error("the error holds the plaintext secret")
			}
		})
	}
}

// The same seal, routed for the workspace and webhook it was sealed for,
// delivers signed: the refusals above are the binding, not a broken path.
func TestEventWorkflowDeliversARoutedSealedSecret(t *testing.T) {
	keys := newRing(t)
	rcv := newScripted(t, 200)
	sealed, _ := keys.Seal(victimSecret, "acme", "wh_1", endpoint.CanonicalURL(rcv.srv.URL))
	acts := &activities.Activities{Client: tlsClient(t, rcv.srv), Secrets: keys, AttemptTimeout: time.Second}
	res := runRaw(t, acts, EventInput{Event: testEvent(), Routed: []endpoint.Routed{{ID: "wh_1", URL: rcv.srv.URL, SealedSecret: sealed}}}, false)
	if d := res.Deliveries[0]; d.Status != StatusDelivered {
		t.Fatalf("got %s (%s), want delivered", d.Status, d.Error)
	}
	h := rcv.got[0].Header
	if got := h.Get(signature.HeaderSecret); got != victimSecret {
		t.Errorf("X-Webhook-Secret: got %q, want the webhook's secret", got)
	}
	if !signature.VerifyRequest(victimSecret, h, rcv.body[0]) {
		t.Error("X-Webhook-Signature does not verify with the webhook's secret")
	}
}

// Histories recorded before routed targets had their own field carry
// sealed secrets in "targets": they replay the old way (GetVersion gives
// the default version only to them) and still deliver.
func TestEventWorkflowLegacyHistoriesKeepTheirSealedTargets(t *testing.T) {
	keys := newRing(t)
	rcv := newScripted(t, 200)
	sealed, _ := keys.Seal(victimSecret, "acme", "wh_1", endpoint.CanonicalURL(rcv.srv.URL))
	acts := &activities.Activities{Client: tlsClient(t, rcv.srv), Secrets: keys, AttemptTimeout: time.Second}
	in := map[string]any{"event": testEvent(), "targets": []map[string]any{{"id": "wh_1", "url": rcv.srv.URL, "sealed_secret": sealed}}}
	res := runRaw(t, acts, in, true)
	if d := res.Deliveries[0]; d.Status != StatusDelivered {
		t.Fatalf("got %s (%s), want delivered", d.Status, d.Error)
	}
	if !signature.VerifyRequest(victimSecret, rcv.got[0].Header, rcv.body[0]) {
		t.Error("the legacy delivery is not signed with the webhook's secret")
	}
}

// secret_header false: the receiver gets the signatures but not the
// secret itself, for direct and routed targets alike.
func TestEventWorkflowSecretHeaderOptOut(t *testing.T) {
	keys := newRing(t)
	no := false
	for _, tt := range []struct {
		name string
		in   func(url string) EventInput
	}{
		{"direct", func(url string) EventInput {
			return EventInput{Event: testEvent(), Targets: []endpoint.Target{{ID: "wh_d", URL: url, Secret: victimSecret, SecretHeader: &no}}}
		}},
		{"routed", func(url string) EventInput {
			sealed, _ := keys.Seal(victimSecret, "acme", "wh_r", endpoint.CanonicalURL(url))
			return EventInput{Event: testEvent(), Routed: []endpoint.Routed{{ID: "wh_r", URL: url, SealedSecret: sealed, NoSecretHeader: true}}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newScripted(t, 200)
			acts := &activities.Activities{AllowDirectSecrets: true, Client: tlsClient(t, rcv.srv), Secrets: keys, AttemptTimeout: time.Second}
			res := runRaw(t, acts, tt.in(rcv.srv.URL), false)
			if d := res.Deliveries[0]; d.Status != StatusDelivered {
				t.Fatalf("got %s (%s), want delivered", d.Status, d.Error)
			}
			h := rcv.got[0].Header
			if got, ok := h[signature.HeaderSecret]; ok {
				t.Errorf("X-Webhook-Secret: got %q, want no such header", got)
			}
			if !signature.VerifyRequest(victimSecret, h, rcv.body[0]) {
				t.Error("X-Webhook-Signature does not verify")
			}
			if err := signature.VerifyStandard(victimSecret, h, rcv.body[0], signature.DefaultTolerance, time.Now()); err != nil {
				t.Errorf("webhook-signature: %v", err)
			}
		})
	}
}
