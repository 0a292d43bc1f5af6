package soak

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Identity headers of the soak's plugin configuration (SPEC 8), and the fields they carry.
const (
	headerUserID = "x-passwordless-user-id"
	headerTenant = "x-passwordless-tenant"
)

var identityHeaders = []string{headerUserID, headerTenant}

// codeFields are the body fields and query parameters that carry the code (SPEC 4).
var codeFields = []string{"password", "verification_code", "otp"}

// checker judges every request once the traffic has ended, from the client's answer, the
// faulty store's record of calls and the upstream's record of arrivals.
type checker struct {
	modes       []string // on_success.mode per replica
	maxAttempts int
	ipMax       int
	global      bool          // the fleet-wide limits of SPEC 14 are on
	timeout     time.Duration // user_store.timeout_ms
	store       *faultyStore
	upstream    *upstream
}

// verdict of one request.
type verdict struct {
	wrong      string // how the answer differs from what SPEC says; "" if it does not
	unanswered bool
	twice      string // how it was answered more than once
	unverified string // how it reached the upstream unverified
}

func (c *checker) judge(r *request) verdict {
	var v verdict
	calls := c.store.lookup(r.id)
	arrivals := c.upstream.lookup(r.id)
	switch {
	case len(calls) > 1:
		v.twice = fmt.Sprintf("the user store was called %d times", len(calls))
	case len(arrivals) > 1:
		v.twice = fmt.Sprintf("the upstream received it %d times", len(arrivals))
	case len(arrivals) == 1 && r.kind != kindHangup && r.err == nil && !r.fromUpstream():
		v.twice = "answered by the filter, and sent upstream too"
	}
	v.unverified = c.unverified(r, calls, arrivals)
	switch {
	case r.kind == kindHangup:
		if len(arrivals) != 0 {
			v.wrong = "a request its client left reached the upstream"
		}
		return v
	case r.err != nil:
		v.unanswered = true
		return v
	}
	if r.code != "" && containsCode(r, r.code) {
		v.wrong = "the answer carries the code"
		return v
	}
	if r.origin != "" {
		if why := checkCORS(r); why != "" {
			v.wrong = why
			return v
		}
	}
	switch {
	case r.local != nil:
		v.wrong = r.local.check(r)
		if v.wrong == "" && (len(calls) != 0 || len(arrivals) != 0) {
			v.wrong = "answered by the filter, yet it went further"
		}
	case r.kind == kindPassThrough:
		if !r.fromUpstream() || r.status != http.StatusOK || len(arrivals) != 1 || len(calls) != 0 {
			v.wrong = fmt.Sprintf("pass-through: status %d from the upstream %v, %d arrivals, %d store calls",
				r.status, r.fromUpstream(), len(arrivals), len(calls))
		}
	default:
		v.wrong = c.judgeStoreBound(r, calls, arrivals)
	}
	return v
}

// judgeStoreBound: a request SPEC sends to the store once it passes the local checks.
func (c *checker) judgeStoreBound(r *request, calls []storeCall, arrivals []arrival) string {
	out := classify(r)
	blockedKey := c.maxAttempts > 0 && r.key.hi >= c.maxAttempts ||
		c.global && r.ip == globalUserLimitedIP && r.fleetKey.hi >= globalUserLimit
	blockedIP := c.ipMax > 0 && r.addr.hi >= c.ipMax ||
		c.global && r.ip == globalIPLimitedIP && r.fleetAddr.hi >= globalIPLimit
	switch {
	case out == outKeyBlocked || out == outIPBlocked:
		w, may := keyBlockedWant(), blockedKey
		if out == outIPBlocked {
			w, may = ipBlockedWant(), blockedIP
		}
		if !may {
			return fmt.Sprintf("refused (%s) but the counts were key %v, address %v", r.respBody, r.key, r.addr)
		}
		if len(calls) != 0 {
			return "refused by attack protection after a user store call"
		}
		w.redirect = r.method == http.MethodGet
		return w.check(r)
	case c.maxAttempts > 0 && r.key.lo >= c.maxAttempts:
		return fmt.Sprintf("not refused with the key's count at least %d of %d", r.key.lo, c.maxAttempts)
	case c.ipMax > 0 && r.addr.lo >= c.ipMax:
		return fmt.Sprintf("not refused with the IP's count at least %d of %d", r.addr.lo, c.ipMax)
	case len(calls) == 0:
		return fmt.Sprintf("answered %d %q without a user store call", r.status, r.respBody)
	}
	call := calls[0]
	if why := c.checkStoreRequest(r, call); why != "" {
		return why
	}
	var w *want
	switch {
	case call.fault != faultNone:
		w = serverErrorWant()
	case out == outServerError && r.done.Sub(r.sent) >= c.timeout:
		// A real timeout: the store, or Envoy on a loaded machine, took longer than
		// timeout_ms. A 500 that came sooner, for a store answer, is wrong.
		w = serverErrorWant()
	default:
		w = storeWant(call.status, call.body)
	}
	if w == nil {
		return c.checkSuccess(r, call, arrivals)
	}
	w.redirect = r.method == http.MethodGet
	if why := w.check(r); why != "" {
		return fmt.Sprintf("%s (store: fault %s, %d %q)", why, call.fault, call.status, call.body)
	}
	return ""
}

// checkStoreRequest: the filter asked the store about this request, from its client's address.
func (c *checker) checkStoreRequest(r *request, call storeCall) string {
	q := call.req
	if q.Tenant != tenant || q.ClientID != clientID || q.Connection != connection ||
		q.Username != r.user || q.OTP != r.code || q.IP != r.ip || q.Step != r.step() {
		return fmt.Sprintf("the store was asked %+v", q)
	}
	return ""
}

func (c *checker) checkSuccess(r *request, call storeCall, arrivals []arrival) string {
	if c.modes[r.replica] == "forward" {
		if !r.fromUpstream() || r.status != http.StatusOK || len(arrivals) != 1 {
			return fmt.Sprintf("verified in forward mode: status %d, from the upstream %v, %d arrivals", r.status, r.fromUpstream(), len(arrivals))
		}
		return ""
	}
	if r.method == http.MethodGet {
		q, why := callbackQuery(r)
		if why != "" {
			return why
		}
		var a struct {
			RedirectParams map[string]string `json:"redirect_params"`
		}
		_ = json.Unmarshal(call.body, &a)
		if q.Get("state") != r.state || q.Has("error") || q.Get("code") == "" || q.Get("code") != a.RedirectParams["code"] {
			return fmt.Sprintf("verified redirect step: callback query %v, store's redirect_params %v", q, a.RedirectParams)
		}
		return ""
	}
	var got, stored map[string]any
	if r.status != http.StatusOK || json.Unmarshal(r.respBody, &got) != nil || json.Unmarshal(call.body, &stored) != nil ||
		!jsonEqual(got, stored) {
		return fmt.Sprintf("verified in respond mode: %d %q, store answered %q", r.status, r.respBody, call.body)
	}
	return ""
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// unverified says how the request reached the upstream though SPEC forbids it: on the filter's
// paths only verified, with the identity the store gave and without the code; elsewhere never
// with an identity header.
func (c *checker) unverified(r *request, calls []storeCall, arrivals []arrival) string {
	for _, a := range arrivals {
		p := strings.ToLower(a.path)
		if !strings.HasPrefix(p, "/passwordless/") {
			if len(a.identity) != 0 {
				return fmt.Sprintf("%s %s arrived with identity headers %q", a.method, a.path, a.spellings)
			}
			continue
		}
		if r.kind == kindHangup || len(calls) != 1 || calls[0].userID() == "" {
			return fmt.Sprintf("%s %s arrived, the store verified nobody for it", a.method, a.path)
		}
		if !slices.Equal(a.identity[headerUserID], []string{calls[0].userID()}) ||
			!slices.Equal(a.identity[headerTenant], []string{tenant}) {
			return fmt.Sprintf("%s %s arrived with identity %v (as %q), the store verified %q", a.method, a.path, a.identity, a.spellings, calls[0].userID())
		}
		if codeIn(a, r.code) {
			return fmt.Sprintf("%s %s arrived with the code", a.method, a.path)
		}
	}
	return ""
}

// codeIn: the code, or a code field, in what the upstream received.
func codeIn(a arrival, code string) bool {
	if code != "" && (strings.Contains(a.path, code) || strings.Contains(a.body, code)) {
		return true
	}
	u, err := url.Parse(a.path)
	if err != nil {
		return true
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(a.body), &body)
	form, _ := url.ParseQuery(a.body)
	for _, f := range codeFields {
		if u.Query().Has(f) || body[f] != nil || form.Has(f) {
			return true
		}
	}
	return false
}

// containsCode: the code in the answer's body or headers.
func containsCode(r *request, code string) bool {
	if strings.Contains(string(r.respBody), code) {
		return true
	}
	for _, vs := range r.respHeader {
		for _, v := range vs {
			if strings.Contains(v, code) {
				return true
			}
		}
	}
	return false
}

// checkCORS: SPEC 13, every answer to a POST from an allowed origin carries it.
func checkCORS(r *request) string {
	if got := r.respHeader.Values("access-control-allow-origin"); len(got) != 1 || got[0] != r.origin {
		return fmt.Sprintf("access-control-allow-origin %q, want %q", got, r.origin)
	}
	if !strings.Contains(strings.ToLower(strings.Join(r.respHeader.Values("vary"), ",")), "origin") {
		return fmt.Sprintf("vary %q, want origin", r.respHeader.Values("vary"))
	}
	return ""
}
