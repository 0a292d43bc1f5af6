package filter

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/passwordless-verify/filter/shared/jsoncheck"
	"github.com/passwordless-verify/filter/shared/storewire"
)

// MaxAnswerBytes bounds a callout answer the filter reads; a larger one is a fault of the service.
const MaxAnswerBytes = 64 << 10

// maxStoreDescription bounds an error_description passed on from the store (SPEC 6).
const maxStoreDescription = 256

// appendCalloutHeaders appends the user store request headers (SPEC 6) to h.
func (c *config) appendCalloutHeaders(h [][2]string, requestID string) [][2]string {
	h = append(h,
		[2]string{":method", "POST"},
		[2]string{":path", c.userStore.path},
		[2]string{":authority", c.userStore.authority},
		[2]string{"content-type", "application/json"},
	)
	if requestID != "" {
		h = append(h, [2]string{"x-request-id", requestID})
	}
	return h
}

// appendCalloutBody writes the user store request. It is built from the validated values, never copied from the client, so extra or
// duplicate client fields cannot change what the store reads. Only the redirect step has a
// redirect_uri (SPEC 12 requires one before the store is asked).
func appendCalloutBody(dst []byte, tenantName string, p *verifyParams, ip string) []byte {
	r := storewire.Request{
		Tenant:      tenantName,
		ClientID:    p.clientID,
		Connection:  p.connection,
		Username:    p.username,
		OTP:         p.code,
		Scope:       p.scope,
		IP:          ip,
		Step:        storewire.StepVerify,
		RedirectURI: p.redirectURI,
		Nonce:       p.nonce,
	}
	if p.redirectURI != "" {
		r.Step = storewire.StepRedirect
	}
	return r.AppendJSON(dst)
}

// callAnswer is a callout's answer as the host delivered it.
type callAnswer struct {
	failed   bool // no headers: reset, timeout or unknown cluster
	tooLarge bool // body over MaxAnswerBytes, not read
	status   string
	headers  [][2]string
	body     []byte
}

// mapAnswer turns the store's answer into success (a JSON object) or an error (SPEC 6).
// Anything the contract does not name is a 500, so no store fault lets a request through.
// A store answer is read first-member-wins: duplicate keys are not refused here, since the
// store, not the client, wrote them.
func mapAnswer(a callAnswer) (gjson.Result, *apiError) {
	if a.failed {
		return gjson.Result{}, internalError("user store call failed")
	}
	switch a.status {
	case "200", "401", "403", "404", "429":
	default:
		// The status first: Envoy's own 503 or 504 is no answer of the store, and a body that
		// is not JSON would say nothing about why.
		return gjson.Result{}, internalError("user store answered " + statusText(a.status))
	}
	if a.tooLarge || len(a.body) > MaxAnswerBytes {
		return gjson.Result{}, internalError("user store answer too large")
	}
	var obj gjson.Result
	if len(a.body) > 0 {
		if _, err := jsoncheck.Check(a.body, jsoncheck.Options{}); err != nil {
			return gjson.Result{}, internalError("user store answer is not JSON")
		}
		if obj = gjson.Parse(view(a.body)); !obj.IsObject() {
			return gjson.Result{}, internalError("user store answer is not a JSON object")
		}
		obj.Raw = strings.TrimRight(obj.Raw, " \t\r\n") // gjson's top-level Raw runs to the end
	}
	errCode := member(obj, "error")
	code := ""
	if errCode.Type == gjson.String {
		code = errCode.Str
	}
	switch {
	case a.status == "200" && obj.Exists():
		return obj, nil
	case a.status == "200" && len(a.body) == 0:
		return gjson.Parse("{}"), nil
	case a.status == "401" && code == storewire.CodeInvalidUserPassword:
		return gjson.Result{}, newError(ErrWrongCode)
	case a.status == "401" && code == storewire.CodeUnauthorized:
		return gjson.Result{}, newError(ErrUserBlocked)
	case a.status == "403" && code == storewire.CodeAccessDenied:
		return gjson.Result{}, newErrorf(ErrAccessDenied, storeDescription(obj, textAccessDenied))
	case a.status == "404" && code == storewire.CodeBadConnection:
		return gjson.Result{}, newError(ErrStoreBadConnection)
	case a.status == "429" && code == storewire.CodeTooManyAttempts:
		return gjson.Result{}, newErrorf(ErrStoreTooManyAttempts, storeDescription(obj, textTooManyAttempts))
	}
	return gjson.Result{}, internalError("unexpected user store answer " + strconv.Quote(a.status))
}

// statusText is a status with the reason it gives, for the log. A callout's 503 and 504 are
// mostly Envoy's own: the store could not be reached, or timeout_ms ran out.
func statusText(status string) string {
	switch status {
	case "500":
		return "500 Internal Server Error"
	case "502":
		return "502 Bad Gateway"
	case "503":
		return "503 Service Unavailable"
	case "504":
		return "504 Gateway Timeout"
	}
	return "status " + strconv.Quote(status)
}

// storeDescription is the store's error_description with control characters removed, cut to
// maxStoreDescription bytes on a rune boundary.
func storeDescription(obj gjson.Result, fallback string) string {
	d := member(obj, "error_description")
	if d.Type != gjson.String {
		return fallback
	}
	var b strings.Builder
	for _, r := range d.Str {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxStoreDescription {
			break
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return fallback
	}
	return b.String()
}

// identityValue is the value of an identity header: the filter's own tenant, client and
// connection, or a string field of the store's answer.
func identityValue(field, tenantName string, p *verifyParams, answer gjson.Result) (string, bool) {
	switch field {
	case "tenant":
		return tenantName, true
	case "client_id":
		return p.clientID, true
	case "connection":
		return p.connection, true
	}
	v := member(answer, field)
	return v.Str, v.Type == gjson.String
}

// member is the first member of obj named key. Not gjson's Get: its paths give '.', '*', '?',
// '#', '|' and '@' a meaning, and a field name may hold any of them.
func member(obj gjson.Result, key string) gjson.Result {
	var found gjson.Result
	obj.ForEach(func(k, v gjson.Result) bool {
		if k.Str == key {
			found = v
			return false
		}
		return true
	})
	return found
}

// validHeaderValue refuses control characters, so a store answer cannot split headers.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
