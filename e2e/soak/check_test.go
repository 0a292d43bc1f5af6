package soak

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/shared/storewire"
)

// answered is a request of kind k from user alice with code 123456, answered with status,
// headers and body.
func answered(k kind, status int, body string, header ...string) *request {
	r := &request{id: "soakq", kind: k, ip: "127.0.0.10", user: "alice@soak.test", code: "123456",
		method: http.MethodPost, path: verifyPath, status: status, respBody: []byte(body), respHeader: http.Header{}}
	if k == kindRedirect || k == kindRedirectWrong {
		r.method, r.state = http.MethodGet, "st-q"
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.respHeader.Add(header[i], header[i+1])
	}
	if r.respHeader.Get("content-type") == "" && strings.HasPrefix(body, "{") {
		r.respHeader.Set("content-type", "application/json")
	}
	return r
}

func redirectTo(q url.Values) string { return callback + "?" + q.Encode() }

// newTestChecker is a checker whose store and upstream hold what a test puts there.
func newTestChecker(mode string) *checker {
	return &checker{modes: []string{mode}, maxAttempts: 5, ipMax: 10, timeout: time.Second,
		store: newFaultyStore(nil, 0, time.Second, 1), upstream: newUpstream(identityHeaders)}
}

// call files a store call for r as the faulty store would.
func (c *checker) call(r *request, f fault, status int, body string) {
	c.store.calls[r.id] = append(c.store.calls[r.id], &storeCall{fault: f, status: status, body: []byte(body),
		req: storewire.Request{Tenant: tenant, ClientID: clientID, Connection: connection, Username: r.user,
			OTP: r.code, IP: r.ip, Step: r.step()}})
}

func (c *checker) arrive(r *request, path string, identity map[string][]string) {
	a := arrival{method: r.method, path: path, identity: identity}
	for k := range identity {
		a.spellings = append(a.spellings, k)
	}
	c.upstream.arrivals[r.id] = append(c.upstream.arrivals[r.id], a)
}

const (
	wrongCodeBody = `{"error":"invalid_user_password","error_description":"Wrong email or password."}`
	serverErrBody = `{"error":"server_error","error_description":"The verification could not be completed. Try again later."}`
	storeUser     = `{"user_id":"u1","tenant":"acme","name":"A"}`
)

// TestJudgeStoreBound: each case is a request that reaches the store, what the store and the
// counts were, and whether SPEC allows the answer.
func TestJudgeStoreBound(t *testing.T) {
	ipText := `{"error":"too_many_attempts","error_description":"` + textSuspiciousIP + `"}`
	keyText := `{"error":"too_many_attempts","error_description":"Your account has been blocked."}`
	for _, tc := range []struct {
		name   string
		mode   string
		r      *request
		setup  func(c *checker, r *request)
		wrong  string // a part of the reason; "" means as SPEC says
		twice  bool
		unverr bool
	}{
		{name: "wrong code", r: answered(kindVerifyWrong, 401, wrongCodeBody),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`) }},
		{name: "wrong code answered 500", r: answered(kindVerifyWrong, 500, serverErrBody),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`) }, wrong: "status 500"},
		{name: "fault gives 500", r: answered(kindVerify, 500, serverErrBody),
			setup: func(c *checker, r *request) { c.call(r, faultReset, 0, "") }},
		{name: "fault answered 200", r: answered(kindVerify, 200, storeUser),
			setup: func(c *checker, r *request) { c.call(r, faultMalformed, 0, "") }, wrong: "want 500"},
		{name: "500 naming internals", r: answered(kindVerify, 500, `{"error":"server_error","error_description":"user store timeout"}`),
			setup: func(c *checker, r *request) { c.call(r, faultTimeout, 0, "") }, wrong: "internals"},
		{name: "timed out, the store's answer too late", r: answered(kindVerify, 500, serverErrBody),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 200, storeUser)
				r.sent = time.Now()
				r.done = r.sent.Add(1100 * time.Millisecond)
			}},
		{name: "fast store's 500", r: answered(kindVerify, 500, serverErrBody),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 200, storeUser) }, wrong: "verified in respond mode: 500"},
		{name: "respond success", r: answered(kindVerify, 200, `{"name":"A","tenant":"acme","user_id":"u1"}`),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 200, storeUser) }},
		{name: "respond success with another body", r: answered(kindVerify, 200, `{"user_id":"u2"}`),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 200, storeUser) }, wrong: "respond mode"},
		{name: "no store call", r: answered(kindVerify, 401, wrongCodeBody), wrong: "without a user store call"},
		{name: "two store calls", r: answered(kindVerifyWrong, 401, wrongCodeBody),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`)
				c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`)
			}, twice: true},
		{name: "key surely blocked, not refused", r: answered(kindVerifyWrong, 401, wrongCodeBody),
			setup: func(c *checker, r *request) {
				r.key = bounds{5, 5}
				c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`)
			}, wrong: "not refused"},
		{name: "key maybe blocked, refused", r: answered(kindVerify, 429, keyText),
			setup: func(c *checker, r *request) { r.key = bounds{3, 5} }},
		{name: "key not blocked, refused", r: answered(kindVerify, 429, keyText),
			setup: func(c *checker, r *request) { r.key = bounds{3, 4} }, wrong: "refused"},
		{name: "refused after a store call", r: answered(kindVerify, 429, keyText),
			setup: func(c *checker, r *request) {
				r.key = bounds{5, 5}
				c.call(r, faultNone, 200, storeUser)
			}, wrong: "after a user store call"},
		{name: "address throttled", r: answered(kindAttack, 429, ipText), setup: func(c *checker, r *request) { r.addr = bounds{10, 10} }},
		{name: "address throttled early", r: answered(kindAttack, 429, ipText), setup: func(c *checker, r *request) { r.addr = bounds{8, 9} }, wrong: "refused"},
		{name: "key refusal with the address text", r: answered(kindAttack, 429, ipText), setup: func(c *checker, r *request) { r.key = bounds{5, 5} }, wrong: "refused"},
		{name: "store asked for another user", r: answered(kindVerifyWrong, 401, wrongCodeBody),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`)
				c.store.calls[r.id][0].req.Username = "bob@soak.test"
			}, wrong: "the store was asked"},
		{name: "blocked user", r: answered(kindBlocked, 401, `{"error":"unauthorized","error_description":"user is blocked"}`),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"unauthorized"}`) }},
		{name: "denied user, description passed on", r: answered(kindDenied, 403, `{"error":"access_denied","error_description":"no"}`),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 403, `{"error":"access_denied","error_description":"no"}`)
			}},
		{name: "forward success", mode: "forward", r: answered(kindVerify, 200, `{}`, upstreamMark, "1"),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 200, storeUser)
				c.arrive(r, verifyPath, map[string][]string{headerUserID: {"u1"}, headerTenant: {"acme"}})
			}},
		{name: "forward with another identity", mode: "forward", r: answered(kindVerify, 200, `{}`, upstreamMark, "1"),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 200, storeUser)
				c.arrive(r, verifyPath, map[string][]string{headerUserID: {"u1", "forged"}, headerTenant: {"acme"}})
			}, unverr: true},
		{name: "forwarded after a fault", mode: "forward", r: answered(kindVerify, 200, `{}`, upstreamMark, "1"),
			setup: func(c *checker, r *request) {
				c.call(r, faultMalformed, 0, "")
				c.arrive(r, verifyPath, map[string][]string{headerUserID: {"u1"}, headerTenant: {"acme"}})
			}, wrong: "want 500", unverr: true},
		{name: "redirect success", r: answered(kindRedirect, 302, "", "location", redirectTo(url.Values{"state": {"st-q"}, "code": {"AZ"}})),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 200, `{"user_id":"u1","redirect_params":{"code":"AZ"}}`)
			}},
		{name: "redirect success without state", r: answered(kindRedirect, 302, "", "location", redirectTo(url.Values{"code": {"AZ"}})),
			setup: func(c *checker, r *request) {
				c.call(r, faultNone, 200, `{"user_id":"u1","redirect_params":{"code":"AZ"}}`)
			}, wrong: "callback query"},
		{name: "redirect error", r: answered(kindRedirectWrong, 302, "", "cache-control", "no-store", "location",
			redirectTo(url.Values{"state": {"st-q"}, "error": {"invalid_user_password"}, "error_description": {textWrongCode}})),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`) }},
		{name: "redirect error cached", r: answered(kindRedirectWrong, 302, "", "location",
			redirectTo(url.Values{"state": {"st-q"}, "error": {"invalid_user_password"}, "error_description": {textWrongCode}})),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`) }, wrong: "cache-control"},
		{name: "redirect error as JSON", r: answered(kindRedirectWrong, 401, wrongCodeBody),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`) }, wrong: "want a 302"},
		{name: "code in the answer", r: answered(kindVerifyWrong, 401, `{"error":"invalid_user_password","error_description":"123456"}`),
			setup: func(c *checker, r *request) { c.call(r, faultNone, 401, `{"error":"invalid_user_password"}`) }, wrong: "carries the code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = "respond"
			}
			c := newTestChecker(mode)
			if tc.setup != nil {
				tc.setup(c, tc.r)
			}
			v := c.judge(tc.r)
			if (tc.wrong == "") != (v.wrong == "") || !strings.Contains(v.wrong, tc.wrong) {
				t.Errorf("wrong %q, want %q", v.wrong, tc.wrong)
			}
			if tc.twice != (v.twice != "") {
				t.Errorf("twice %q", v.twice)
			}
			if tc.unverr != (v.unverified != "") {
				t.Errorf("unverified %q", v.unverified)
			}
		})
	}
}

// TestJudgeLocalAnswers: answers the filter gives alone must be exact and must go no further.
func TestJudgeLocalAnswers(t *testing.T) {
	row := func(r *request, w want) *request { r.local, r.kind, r.code = &w, kindRejected, ""; return r }
	missing := rowError(400, "invalid_request", "missing client_id parameter")
	c := newTestChecker("forward")
	if v := c.judge(row(answered(kindRejected, 400, `{"error":"invalid_request","error_description":"missing client_id parameter"}`), missing)); v.wrong != "" {
		t.Errorf("exact answer judged wrong: %s", v.wrong)
	}
	for name, r := range map[string]*request{
		"other text":   row(answered(kindRejected, 400, `{"error":"invalid_request","error_description":"missing client_id"}`), missing),
		"extra member": row(answered(kindRejected, 400, `{"error":"invalid_request","error_description":"missing client_id parameter","x":1}`), missing),
		"not JSON":     row(answered(kindRejected, 400, `{"error":"invalid_request","error_description":"missing client_id parameter"}`, "content-type", "text/plain"), missing),
		"no allow": row(answered(kindRejected, 405, `{"error":"invalid_request","error_description":"method not allowed"}`),
			want{status: 405, code: "invalid_request", desc: "method not allowed", headers: map[string]string{"allow": "GET"}}),
		"CORS on a refusal": row(answered(kindRejected, 403, `{"error":"access_denied","error_description":"Origin not allowed"}`, "access-control-allow-origin", "http://x"),
			want{status: 403, code: "access_denied", desc: textOrigin, absent: []string{"access-control-allow-origin"}}),
	} {
		if v := c.judge(r); v.wrong == "" {
			t.Errorf("%s: judged as SPEC says", name)
		}
	}
	r := row(answered(kindRejected, 400, `{"error":"invalid_request","error_description":"missing client_id parameter"}`), missing)
	c.arrive(r, verifyPath, nil)
	if v := c.judge(r); v.twice == "" || v.unverified == "" {
		t.Errorf("a refused request that reached the upstream: %+v", v)
	}
}

// TestJudgePassThrough: other paths reach the upstream once, without any spelling of an
// identity header.
func TestJudgePassThrough(t *testing.T) {
	c := newTestChecker("respond")
	r := answered(kindPassThrough, 200, `{}`, upstreamMark, "1")
	r.code = ""
	c.arrive(r, "/soak/api/x", map[string][]string{})
	if v := c.judge(r); v != (verdict{}) {
		t.Errorf("clean pass-through: %+v", v)
	}
	c.upstream.arrivals[r.id] = nil
	c.arrive(r, "/soak/api/x", map[string][]string{headerUserID: {"forged"}})
	if v := c.judge(r); v.unverified == "" {
		t.Error("a forged identity header upstream went unnoticed")
	}
	r.err = http.ErrHandlerTimeout
	if v := c.judge(r); !v.unanswered {
		t.Error("no answer, yet not unanswered")
	}
}

func TestUpstreamFindsEverySpelling(t *testing.T) {
	u := newUpstream(identityHeaders)
	req := httptest.NewRequest(http.MethodGet, "/soak/api/x", nil)
	req.Header.Set("x-request-id", "soakq")
	req.Header["x_passwordless_user_id"] = []string{"forged"}
	req.Header["X-Passwordless_Tenant"] = []string{"forged"}
	u.ServeHTTP(httptest.NewRecorder(), req)
	a := u.lookup("soakq")
	if len(a) != 1 || len(a[0].identity[headerUserID]) != 1 || len(a[0].identity[headerTenant]) != 1 {
		t.Fatalf("arrivals %+v", a)
	}
}
