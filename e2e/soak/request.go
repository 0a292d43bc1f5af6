package soak

import (
	"net/http"
	"time"
)

// The tenant, client and connection of envoy/local.yaml's plugin configuration, which the soak
// runs (with the additions of pluginConfig).
const (
	tenant     = "acme"
	clientID   = "acme-web"
	connection = "email"
	callback   = "http://127.0.0.1:3000/callback"
	webOrigin  = "http://127.0.0.1:3000"
	verifyPath = "/passwordless/verify"
	// redirectPath is SPEC 12's step.
	redirectPath = "/passwordless/verify_redirect"
)

// kind is what a request is, which decides what SPEC allows as its answer.
type kind uint8

const (
	kindVerify        kind = iota // POST with the user's live code
	kindVerifyWrong               // POST with a wrong code
	kindRedirect                  // GET redirect step with the code that passed verify
	kindRedirectWrong             // GET redirect step with a wrong code
	kindBlocked                   // POST with the live code of a blocked user
	kindDenied                    // POST with the live code of a user who may not use the client
	kindAttack                    // a wrong code for a user nobody has, from an attacker's address
	kindRejected                  // refused by the filter from its catalogue, before any count
	kindPreflight                 // CORS preflight (SPEC 13)
	kindPassThrough               // any other path, with forged identity headers
	kindHangup                    // the client leaves mid-request
	numKinds
)

var kindNames = [numKinds]string{"verify", "verify-wrong", "redirect", "redirect-wrong", "blocked",
	"denied", "attack", "rejected", "preflight", "pass-through", "hang-up"}

func (k kind) String() string { return kindNames[k] }

// reachesStore says whether a request of this kind, once past the local checks, is judged by
// the user store, and so is counted by attack protection.
func (k kind) reachesStore() bool { return k <= kindAttack }

// request is one request of the soak and everything the checker needs about it.
type request struct {
	id      string
	kind    kind
	replica int
	ip      string // the client address it was sent from
	user    string // the username, for kinds that reach the store
	code    string // the code sent, "" for none
	state   string // the redirect step's state
	origin  string // a cross origin sent with a verify POST, "" for none
	local   *want  // the exact answer of kinds the filter answers itself
	name    string // the rejected row, for reports

	method  string
	path    string
	header  http.Header
	body    []byte
	chunked bool // send the body without a content-length

	// The answer.
	sent, done time.Time
	status     int
	respHeader http.Header
	respBody   []byte
	err        error // no answer: a transport error or the client's timeout

	// SPEC 7's counts the request met, as bounds (ledger.go), and the rate-limit service's
	// (SPEC 14), of which only the upper bound is known: the service counts every request it
	// is asked about, and which ones it was asked about the soak cannot see.
	key, addr           bounds
	fleetKey, fleetAddr bounds
}

// step is the user store step the request's kind makes.
func (r *request) step() string {
	if r.kind == kindRedirect || r.kind == kindRedirectWrong {
		return "redirect"
	}
	return "verify"
}

// fromUpstream says whether the answer came from the upstream rather than from the filter.
func (r *request) fromUpstream() bool { return r.respHeader.Get(upstreamMark) != "" }
