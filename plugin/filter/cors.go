package filter

import (
	"slices"
	"strings"
)

// CORS for login pages on another origin, per client like Auth0's "Allowed Web Origins"
// (SPEC 13). Only verify_path has it; the redirect step is a top-level navigation.

// preflightHeaders are the fixed part of an allowed preflight's answer.
var preflightHeaders = [][2]string{
	{"access-control-allow-methods", "POST"},
	{"access-control-allow-headers", "content-type, auth0-client"},
	{"access-control-max-age", "600"},
	{"vary", "origin"},
}

// isPreflight: an OPTIONS that asks whether a POST may follow. Other OPTIONS pass through.
func isPreflight(headers [][2]string) bool {
	origin, _ := lookup(headers, "origin")
	method, _ := lookup(headers, "access-control-request-method")
	return origin != "" && method == "POST"
}

// preflight answers 204 when the origin is a web origin of any client of the tenant, else
// 403 without CORS headers. A browser sends no tenant header in a preflight, so only
// host_suffix or tenant.default can name the tenant here. Nothing goes upstream.
func (h *Stream) preflight(headers [][2]string) Action {
	cfg := h.p.cfg
	origin, _ := lookup(headers, "origin")
	name, t, err := cfg.tenantOf(headers)
	h.r.tenant = name
	if err != nil || !t.webOrigins[origin] {
		return h.fail(newError(ErrOriginNotAllowed))
	}
	h.logOutcome("preflight", "")
	h.send(204, append([][2]string{{"access-control-allow-origin", origin}}, preflightHeaders...), nil)
	return Pause
}

// setOrigin notes a cross-origin POST once the tenant is known: until the client is known,
// answers allow the origin when some client of the tenant does (SPEC 13).
func (h *Stream) setOrigin(headers [][2]string) {
	origin, ok := lookup(headers, "origin")
	scheme, _ := lookup(headers, ":scheme")
	authority, _ := lookup(headers, ":authority")
	if !ok || strings.EqualFold(origin, scheme+"://"+authority) {
		return
	}
	h.r.origin = origin
	if h.r.t != nil && h.r.t.webOrigins[origin] {
		h.r.corsOrigin = origin
	}
}

// checkOrigin runs right after row 7: a cross-origin POST must come from one of the
// client's web origins.
func (h *Stream) checkOrigin(cl *client) *apiError {
	if h.r.origin == "" {
		return nil
	}
	if !slices.Contains(cl.webOrigins, h.r.origin) {
		h.r.corsOrigin = ""
		return newError(ErrOriginNotAllowed)
	}
	h.r.corsOrigin = h.r.origin
	return nil
}

// answerHeaders are the headers of the filter's own JSON answers.
func (h *Stream) answerHeaders() [][2]string {
	headers := slices.Clip(jsonHeaders)
	if h.r.corsOrigin != "" {
		headers = append(headers, [2]string{"access-control-allow-origin", h.r.corsOrigin}, [2]string{"vary", "origin"})
	}
	return headers
}

// OnResponseHeaders gives the upstream's answer to a forwarded cross-origin verify the
// same CORS headers as the filter's own answers; those already have them.
func (h *Stream) OnResponseHeaders() Action {
	if h.phase != forwarded || h.r.corsOrigin == "" {
		return Continue
	}
	if err := h.host.ReplaceResponseHeader("access-control-allow-origin", h.r.corsOrigin); err != nil {
		h.host.Log(LogWarn, "passwordless_verify: cannot set access-control-allow-origin: "+err.Error())
	}
	// All headers in one call, as on the request side (the module imports no single-header read).
	headers, err := h.host.ResponseHeaders()
	vary, _ := lookup(headers, "vary")
	switch {
	case err != nil || vary == "":
		err = h.host.ReplaceResponseHeader("vary", "origin")
	case !varyHasOrigin(vary):
		err = h.host.ReplaceResponseHeader("vary", vary+", origin")
	}
	if err != nil {
		h.host.Log(LogWarn, "passwordless_verify: cannot set vary: "+err.Error())
	}
	return Continue
}

func varyHasOrigin(vary string) bool {
	for _, v := range strings.Split(vary, ",") {
		if v = strings.TrimSpace(v); v == "*" || strings.EqualFold(v, "origin") {
			return true
		}
	}
	return false
}
