package soak

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Texts SPEC gives exactly (sections 5, 6, 7, 12 and 13).
const (
	textWrongCode    = "Wrong email or password."
	textUserBlocked  = "user is blocked"
	textSuspiciousIP = "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."
	textOrigin       = "Origin not allowed"
	textNoStoreConn  = "Connection does not exist"
)

// want is an answer SPEC gives: a JSON error, the same error as a redirect to the callback
// (SPEC 12.3), or a bare status with headers.
type want struct {
	status   int
	code     string // the error member; "" for an answer that is not an error
	desc     string
	prefix   bool // desc is a prefix of the description
	generic  bool // any description that gives away no internals (SPEC 6's 500)
	notDesc  string
	redirect bool
	headers  map[string]string // exact values
	absent   []string          // headers that must not be there
}

func errorWant(status int, code, desc string) *want {
	return &want{status: status, code: code, desc: desc}
}

func serverErrorWant() *want {
	return &want{status: http.StatusInternalServerError, code: "server_error", generic: true}
}

// keyBlockedWant is row 17 for a key: SPEC asks for a clear text, which is not the per-address one.
func keyBlockedWant() *want {
	return &want{status: http.StatusTooManyRequests, code: "too_many_attempts", generic: true, notDesc: textSuspiciousIP}
}

func ipBlockedWant() *want {
	return errorWant(http.StatusTooManyRequests, "too_many_attempts", textSuspiciousIP)
}

// internals are words a generic error text must not carry.
var internals = []string{"store", "timeout", "reset", "cluster", "upstream", "json", "status", "callout"}

// check says how the answer differs from w; "" when it does not.
func (w *want) check(r *request) string {
	if w.redirect {
		return w.checkRedirect(r)
	}
	if r.status != w.status {
		return fmt.Sprintf("status %d, want %d", r.status, w.status)
	}
	for k, v := range w.headers {
		if got := r.respHeader.Values(k); len(got) != 1 || got[0] != v {
			return fmt.Sprintf("header %s %q, want %q", k, got, v)
		}
	}
	for _, k := range w.absent {
		if v := r.respHeader.Values(k); len(v) != 0 {
			return fmt.Sprintf("header %s %q, want none", k, v)
		}
	}
	if w.code == "" {
		return ""
	}
	if mt, _, _ := mime.ParseMediaType(r.respHeader.Get("content-type")); mt != "application/json" {
		return fmt.Sprintf("content-type %q", r.respHeader.Get("content-type"))
	}
	var body map[string]any
	if err := json.Unmarshal(r.respBody, &body); err != nil || len(body) != 2 {
		return fmt.Sprintf("body %q is not {error, error_description}", r.respBody)
	}
	code, _ := body["error"].(string)
	desc, ok := body["error_description"].(string)
	if !ok {
		return fmt.Sprintf("body %q is not {error, error_description}", r.respBody)
	}
	return w.checkError(code, desc)
}

func (w *want) checkError(code, desc string) string {
	if code != w.code {
		return fmt.Sprintf("error %q (%q), want %q", code, desc, w.code)
	}
	switch {
	case w.generic:
		low := strings.ToLower(desc)
		for _, word := range internals {
			if strings.Contains(low, word) {
				return fmt.Sprintf("description %q gives away internals", desc)
			}
		}
		if desc == "" || (w.notDesc != "" && desc == w.notDesc) {
			return fmt.Sprintf("description %q", desc)
		}
	case w.prefix:
		if !strings.HasPrefix(desc, w.desc) {
			return fmt.Sprintf("description %q, want the prefix %q", desc, w.desc)
		}
	case desc != w.desc:
		return fmt.Sprintf("description %q, want %q", desc, w.desc)
	}
	return ""
}

// checkRedirect: SPEC 12.3, the error as a 302 to the callback with state, never cached.
func (w *want) checkRedirect(r *request) string {
	q, why := callbackQuery(r)
	if why != "" {
		return why
	}
	if cc := r.respHeader.Get("cache-control"); cc != "no-store" {
		return fmt.Sprintf("cache-control %q", cc)
	}
	if q.Get("state") != r.state || len(q["error"]) != 1 || len(q["error_description"]) != 1 {
		return fmt.Sprintf("callback query %v: want one error, one error_description and state %q", q, r.state)
	}
	return w.checkError(q.Get("error"), q.Get("error_description"))
}

// callbackQuery is the query of a 302 to the client's callback.
func callbackQuery(r *request) (url.Values, string) {
	loc := r.respHeader.Get("location")
	if r.status != http.StatusFound || !strings.HasPrefix(loc, callback+"?") {
		return nil, fmt.Sprintf("status %d location %q, want a 302 to the callback", r.status, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Sprintf("location %q: %v", loc, err)
	}
	return u.Query(), ""
}

// storeWant maps the reference store's answer to the filter's (SPEC 6); nil is a success.
func storeWant(status int, body []byte) *want {
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	var obj map[string]json.RawMessage
	isObject := json.Unmarshal(body, &obj) == nil && obj != nil
	_ = json.Unmarshal(body, &e)
	switch {
	case status == http.StatusOK && isObject:
		return nil
	case status == http.StatusUnauthorized && e.Error == "invalid_user_password":
		return errorWant(http.StatusUnauthorized, "invalid_user_password", textWrongCode)
	case status == http.StatusUnauthorized && e.Error == "unauthorized":
		return errorWant(http.StatusUnauthorized, "unauthorized", textUserBlocked)
	case status == http.StatusForbidden && e.Error == "access_denied":
		return errorWant(http.StatusForbidden, "access_denied", e.Desc)
	case status == http.StatusNotFound && e.Error == "bad.connection":
		return errorWant(http.StatusBadRequest, "bad.connection", textNoStoreConn)
	case status == http.StatusTooManyRequests && e.Error == "too_many_attempts":
		return errorWant(http.StatusTooManyRequests, "too_many_attempts", e.Desc)
	}
	return serverErrorWant()
}

// outcome is what an answer to a request that may reach the store says happened.
type outcome uint8

const (
	outOther outcome = iota
	outVerified
	outWrongCode
	outServerError
	outKeyBlocked
	outIPBlocked
	outUserBlocked
	outDenied
)

// classify reads the answer; it does not judge it (the checker does).
func classify(r *request) outcome {
	if r.err != nil {
		return outOther
	}
	if r.fromUpstream() {
		if r.status == http.StatusOK {
			return outVerified
		}
		return outOther
	}
	var code, desc string
	if r.method == http.MethodGet {
		q, why := callbackQuery(r)
		if why != "" {
			return outOther
		}
		if _, isErr := q["error"]; !isErr {
			return outVerified
		}
		code, desc = q.Get("error"), q.Get("error_description")
	} else {
		var body map[string]any
		if json.Unmarshal(r.respBody, &body) != nil {
			return outOther
		}
		if r.status == http.StatusOK {
			if _, isErr := body["error"]; !isErr {
				return outVerified
			}
		}
		code, _ = body["error"].(string)
		desc, _ = body["error_description"].(string)
	}
	switch code {
	case "invalid_user_password":
		return outWrongCode
	case "server_error":
		return outServerError
	case "too_many_attempts":
		if desc == textSuspiciousIP {
			return outIPBlocked
		}
		return outKeyBlocked
	case "unauthorized":
		return outUserBlocked
	case "access_denied":
		return outDenied
	}
	return outOther
}

// effect is what SPEC 7 does to the counts on such an answer.
func (o outcome) effect() effect {
	switch o {
	case outVerified:
		return effectCleared
	case outWrongCode, outServerError:
		return effectCounted
	case outKeyBlocked, outIPBlocked, outUserBlocked, outDenied:
		return effectNone
	}
	return effectUnknown
}
