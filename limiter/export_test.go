package limiter

// HeldPlace exports the contract test of Ticket.Hold to the Redis tests.
var HeldPlace = heldPlace
