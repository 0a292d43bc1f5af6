package filter

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// GET verify_redirect_path: the hosted login page step of auth0.js's
// WebAuth.passwordlessVerify, which navigates here after a 200 from verify_path (SPEC 12).
// Its path through the filter is in stream.go (startRedirect); here are its own checks and
// answers: the checks up to redirect_uri answer JSON, the rest redirect to the checked
// redirect_uri.

// checkRedirectURI: the filter never redirects to a URL that is not exactly one of the
// client's callbacks.
func checkRedirectURI(cl *client, uri string) *apiError {
	if uri == "" {
		return newError(ErrMissingRedirectURI)
	}
	for _, cb := range cl.callbacks {
		if cb == uri {
			return nil
		}
	}
	return newError(ErrRedirectURINotAllowed)
}

// The query parameters of the redirect step beyond those of the POST body.
const (
	qRedirectURI = iota
	qState
	qNonce
	numQueryFields
)

func queryFieldIndex(key string) int {
	switch key {
	case "redirect_uri":
		return qRedirectURI
	case "state":
		return qState
	case "nonce":
		return qNonce
	}
	return -1
}

// parseQuery reads the redirect step's parameters from the query string, decoded as a form
// (SPEC 12.1). A parameter the filter reads may appear once, so nothing that reads the URL
// after the filter can take another value; other keys are not read, so not checked.
func parseQuery(query string) (verifyParams, *apiError) {
	var (
		f     fieldSet
		extra [numQueryFields]string
		seen  [numQueryFields]bool
	)
	err := eachFormPair(query, func(key string) bool { return fieldIndex(key) >= 0 || queryFieldIndex(key) >= 0 },
		func(key, val string) *apiError {
			if i := fieldIndex(key); i >= 0 {
				if f[i].kind != valAbsent {
					return duplicateParam(key)
				}
				f[i] = fieldValue{kind: valString, str: val}
			} else if i := queryFieldIndex(key); i >= 0 {
				if seen[i] {
					return duplicateParam(key)
				}
				seen[i], extra[i] = true, val
			}
			return nil
		})
	if err != nil {
		return verifyParams{}, err
	}
	p := f.params()
	p.redirectURI, p.state, p.nonce = extra[qRedirectURI], extra[qState], extra[qNonce]
	return p, nil
}

// duplicateParam names the key: it is one of the parameters the filter reads, never a value.
func duplicateParam(key string) *apiError {
	return newErrorf(ErrInvalidBody, "parameter "+strconv.Quote(key)+" is given twice in the query string")
}

// withoutCode is path with the code parameters (password, verification_code, otp, also
// percent-encoded) removed from its query.
func withoutCode(path string) string {
	p, q, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	stripped := stripFormCodeFields([]byte(q))
	if len(stripped) == len(q) {
		return path
	}
	if len(stripped) == 0 {
		return p
	}
	return p + "?" + string(stripped)
}

// redirectHeaders are a 302 to location, never cached: it carries the result of a login.
func redirectHeaders(location string) [][2]string {
	return [][2]string{{"location", location}, {"cache-control", "no-store"}}
}

// errorRedirect sends an error of the redirect step back to the callback (SPEC 12.3).
func (h *Stream) errorRedirect(e *apiError) [][2]string {
	params := [][2]string{{"error", e.code()}, {"error_description", e.description()}}
	if h.r.params.state != "" {
		params = append(params, [2]string{"state", h.r.params.state})
	}
	return redirectHeaders(withQuery(h.r.redirectTo, params))
}

// respondRedirect is the redirect step's success in respond mode: 302 to the callback with
// state and the store's redirect_params, plus pass_headers (SPEC 12.5).
func (h *Stream) respondRedirect(answer gjson.Result, storeHeaders [][2]string) {
	var params [][2]string
	if h.r.params.state != "" {
		params = append(params, [2]string{"state", h.r.params.state})
	}
	rp := member(answer, "redirect_params")
	if rp.Exists() && !rp.IsObject() {
		h.p.metrics.storeFailures.Increment(1)
		h.fail(internalError("user store redirect_params is not an object"))
		return
	}
	rp.ForEach(func(key, val gjson.Result) bool {
		if val.Type == gjson.String {
			params = append(params, [2]string{key.Str, val.Str})
		}
		return true
	})
	headers := h.passHeaders(redirectHeaders(withQuery(h.r.redirectTo, params)), storeHeaders)
	h.succeed()
	h.send(302, headers, nil)
}

// withQuery appends percent-encoded parameters to uri's query. Callbacks have no fragment
// (the configuration refuses one), so the query is the end of the URL.
func withQuery(uri string, params [][2]string) string {
	if len(params) == 0 {
		return uri
	}
	b := []byte(uri)
	switch {
	case strings.IndexByte(uri, '?') < 0:
		b = append(b, '?')
	case !strings.HasSuffix(uri, "?") && !strings.HasSuffix(uri, "&"):
		b = append(b, '&')
	}
	for i, kv := range params {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendQueryEscape(b, kv[0])
		b = append(b, '=')
		b = appendQueryEscape(b, kv[1])
	}
	return string(b)
}

// appendQueryEscape percent-encodes every byte but RFC 3986's unreserved characters.
func appendQueryEscape(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&0xf])
	}
	return dst
}
