package filter

import "github.com/passwordless-verify/filter/shared/storewire"

// RecordProperty is the filter-state property that holds a handled request's record (SPEC
// 10). Envoy keeps it as wasm.passwordless_verify, which an access-log format prints with
// %FILTER_STATE(wasm.passwordless_verify:PLAIN)%.
const RecordProperty = "passwordless_verify"

// record notes how a handled request ended: in Envoy's access log always, in its application
// log only with log_requests (a server error always, at warn). Neither has the code or the username, and the client's values
// are cut short, so a client can neither read a secret there nor bloat a line.
func (h *Stream) record(outcome, reason string) {
	r := h.r
	b := append(h.p.record[:0], `{"tenant":`...)
	b = appendJSONCut(b, r.tenant)
	b = append(b, `,"client_id":`...)
	b = appendJSONCut(b, r.params.clientID)
	b = append(b, `,"connection":`...)
	b = appendJSONCut(b, r.params.connection)
	b = append(b, `,"outcome":`...)
	b = storewire.AppendString(b, outcome)
	b = append(b, `,"request_id":`...)
	b = appendJSONCut(b, r.requestID)
	h.p.record = append(b, '}')
	if err := h.host.SetFilterState(RecordProperty, h.p.record); err != nil {
		h.host.Log(LogError, "passwordless_verify: cannot set the access-log record: "+err.Error())
	}
	switch {
	case reason != "":
		// A server error is the operator's to see whatever log_requests says: the client
		// was told nothing of its cause, and it is rare, so it costs nothing per request.
		h.logLine(LogWarn, outcome, reason)
	case h.p.cfg.logRequests:
		h.logLine(LogInfo, outcome, reason)
	}
}

// logLine writes the line of log_requests (and of every server error): the record's fields,
// and why an error happened where the catalogue's code does not say.
func (h *Stream) logLine(level LogLevel, outcome, reason string) {
	b := append(h.p.line[:0], "passwordless_verify: tenant="...)
	b = appendQuoteSafe(b, h.r.tenant)
	b = append(b, " client="...)
	b = appendQuoteSafe(b, h.r.params.clientID)
	b = append(b, " connection="...)
	b = appendQuoteSafe(b, h.r.params.connection)
	b = append(b, " outcome="...)
	b = append(b, outcome...)
	b = append(b, " request_id="...)
	b = appendQuoteSafe(b, h.r.requestID)
	if reason != "" {
		b = append(b, " reason="...)
		b = appendQuoteSafe(b, reason)
	}
	h.p.line = b
	h.host.Log(level, string(b)) // a copy: a host may keep the line
}

// appendJSONCut appends s as a JSON string cut to quoteMax bytes, the cut marked inside the
// quotes as appendQuoteSafe marks it. A cut inside a UTF-8 sequence leaves bytes that
// AppendString writes as U+FFFD: the record stays valid JSON.
func appendJSONCut(dst []byte, s string) []byte {
	if len(s) <= quoteMax {
		return storewire.AppendString(dst, s)
	}
	dst = storewire.AppendString(dst, s[:quoteMax])
	return append(dst[:len(dst)-1], `..."`...)
}
