package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hari-crm/webhooks/delivery"
	"github.com/hari-crm/webhooks/publisher"
	"github.com/hari-crm/webhooks/workflows"
)

// refusalHelp puts a refused Redeliver or Recover request in plain
// language with its next step, for the Settings page (the API's message
// stays as the technical detail). It returns nil for an error it has no
// words for.
func refusalHelp(err error, code string) *delivery.Help {
	var running *publisher.RecoveryRunningError
	switch {
	case errors.As(err, &running):
		return &delivery.Help{
			Problem: "A recovery of this webhook is already running.",
			Next:    "Wait for it to finish (its progress shows here), or cancel it, then start again.",
		}
	case errors.Is(err, publisher.ErrPending):
		return &delivery.Help{
			Problem: "This delivery is still being attempted, so it cannot be sent again yet.",
			Next:    "Wait for its outcome: the log updates by itself.",
		}
	case errors.Is(err, publisher.ErrInactive):
		return &delivery.Help{
			Problem: "The webhook is deactivated: HARi sends nothing to it, redeliveries included.",
			Next:    "Activate it (⋯ › Activate), then try again.",
		}
	case errors.Is(err, publisher.ErrDisabled):
		return &delivery.Help{
			Problem: "HARi disabled this webhook because its deliveries kept failing, so a recovery would send nothing.",
			Next:    "Check the fix with Test fire, then Re-enable the webhook and recover again.",
		}
	case errors.Is(err, publisher.ErrTooManyRedeliveries):
		return &delivery.Help{
			Problem: fmt.Sprintf("This delivery was sent again %d times already: HARi sends it no more.", publisher.MaxRedeliveries),
			Next:    "Fix your endpoint and check it with Test fire; new events are delivered as usual.",
		}
	}
	switch code {
	case "not_found":
		return &delivery.Help{
			Problem: "This delivery or webhook no longer exists, or its event has expired from the log.",
			Next:    "Reload the page to see the current webhooks and deliveries.",
		}
	case "invalid":
		return &delivery.Help{
			Problem: "The start of the outage must be a time in the past.",
			Next:    "Pick the time the failures began, then recover again.",
		}
	case "timeout", "unavailable":
		return &delivery.Help{
			Problem: "The webhook service did not answer in time.",
			Next:    "Try again in a moment.",
		}
	}
	return nil
}

// failRefusal is fail for the Redeliver and Recover routes: the answer's
// error also carries its help.
func failRefusal(w http.ResponseWriter, err error) {
	status, e := failure(err)
	e.Help = refusalHelp(err, e.Code)
	writeFailure(w, status, e, err)
}

// RecoveryView is a recovery job as GET .../recoveries/{job} shows it:
// its progress, and Help when it ended short of its goal (it failed,
// stopped, or some deliveries failed again), in plain language with the
// next step; LastError stays the technical detail.
type RecoveryView struct {
	publisher.Recovery
	Help *delivery.Help `json:"help,omitempty"`
}

// recoveryHelp explains how a recovery fell short, or nil.
func recoveryHelp(p publisher.Recovery) *delivery.Help {
	switch {
	case p.State == workflows.RecoveryFailed:
		return &delivery.Help{
			Problem: "HARi could not list the failed deliveries, so the recovery sent nothing more.",
			Next:    "Try again in a few minutes: deliveries already sent are not sent twice.",
		}
	case p.State == workflows.RecoveryStopped:
		return &delivery.Help{
			Problem: "The recovery stopped: the webhook was deactivated or disabled while it ran, so HARi sent no more.",
			Next:    "Activate or re-enable the webhook, then recover again: deliveries already sent are not sent twice.",
		}
	case p.Failed > 0:
		n := "1 delivery"
		if p.Failed > 1 {
			n = fmt.Sprintf("%d deliveries", p.Failed)
		}
		return &delivery.Help{
			Problem: n + " failed again when sent.",
			Next:    "Each one's attempts are in the log below: fix your endpoint (check it with Test fire), then recover again.",
		}
	}
	return nil
}
