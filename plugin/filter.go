package main

import (
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tidwall/gjson"
)

// This file is the thin layer between the proxy-wasm SDK and the filter's plain-Go logic.

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	cfg     *config
	metrics *metrics
	guard   *attackGuard
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogCritical("passwordless_verify: cannot read configuration: " + err.Error())
		return types.OnPluginStartStatusFailed
	}
	cfg, err := parseConfig(data)
	if err != nil {
		// One line that names the field: Envoy shows it when the plugin fails to start.
		proxywasm.LogCritical("passwordless_verify: invalid configuration: " + err.Error())
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.metrics = defineMetrics()
	if p.guard, err = newAttackGuard(hostSharedData{}, cfg, rand.Reader); err != nil {
		proxywasm.LogCritical("passwordless_verify: " + err.Error())
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

// httpContext is one request. Only verify requests get past OnHttpRequestHeaders with state.
type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext

	handled   bool // a verify request this filter owns
	answered  bool // a local answer was sent or the request was let through
	resumed   bool // let through upstream after a successful verification
	route     route
	kind      bodyKind
	tenant    string
	t         *tenant
	requestID string
	params    verifyParams
	body      []byte
	sentAt    time.Time
	// redirectTo is the checked redirect_uri of GET verify_redirect: once set, errors are
	// redirects to it (SPEC 12).
	redirectTo string
	origin     string // a cross-origin request's origin header (SPEC 13)
	corsOrigin string // the origin every answer allows; "" for none
}

func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	cfg := h.p.cfg
	// One host call for all headers: every call that returns data costs a call back into the
	// VM to allocate, and this runs on every request through the proxy.
	headers, herr := proxywasm.GetHttpRequestHeaders()
	if herr != nil {
		// Without the headers the filter can neither route nor strip identities: fail closed.
		h.handled = true
		return h.fail(internalError("cannot read request headers: " + herr.Error()))
	}
	// Identity headers are removed from every request, so no client can forge one upstream.
	for _, ih := range cfg.identityHeaders {
		if _, ok := lookup(headers, ih.name); ok {
			_ = proxywasm.RemoveHttpRequestHeader(ih.name)
		}
	}
	method, _ := lookup(headers, ":method")
	path, _ := lookup(headers, ":path")
	h.route = cfg.route(method, path)
	if h.route == routeNone || h.route == routePreflight && !isPreflight(headers) {
		return types.ActionContinue
	}
	h.handled = true
	h.requestID, _ = lookup(headers, "x-request-id")
	if h.route == routePreflight {
		return h.preflight(headers)
	}
	h.p.metrics.requests.Increment(1)
	if h.route == routeRedirect {
		return h.onRedirect(headers, path)
	}

	var head requestHead
	if cfg.tenantHeader != "" {
		head.tenantHeader, _ = lookup(headers, cfg.tenantHeader)
	}
	head.authority, _ = lookup(headers, ":authority")
	head.contentType, _ = lookup(headers, "content-type")
	head.contentLength, _ = lookup(headers, "content-length")
	name, t, kind, err := cfg.checkHead(head)
	h.tenant, h.t, h.kind = name, t, kind
	h.setOrigin(headers)
	if err != nil {
		return h.fail(err)
	}
	if endOfStream {
		return h.onBody(nil)
	}
	// Pause: with allow_on_headers_stop_iteration Envoy still delivers the body, and
	// forwards nothing until the filter resumes.
	return types.ActionPause
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if !h.handled || h.resumed {
		return types.ActionContinue
	}
	if h.answered || h.route == routeRedirect { // the redirect step reads no body
		return types.ActionPause
	}
	if bodySize > h.p.cfg.maxRequestBytes {
		return h.fail(h.p.cfg.tooLarge())
	}
	if !endOfStream {
		return types.ActionPause // keep buffering
	}
	return h.readBody(bodySize)
}

// OnHttpRequestTrailers ends a body that came with trailers: no body callback says
// end_of_stream then.
func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	if !h.handled || h.resumed {
		return types.ActionContinue
	}
	if h.answered || h.route == routeRedirect {
		return types.ActionPause
	}
	return h.readBody(h.p.cfg.maxRequestBytes + 1)
}

func (h *httpContext) readBody(size int) types.Action {
	body, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		return h.fail(internalError("cannot read request body: " + err.Error()))
	}
	if len(body) > h.p.cfg.maxRequestBytes {
		return h.fail(h.p.cfg.tooLarge())
	}
	return h.onBody(body)
}

// onBody parses and validates the whole body, then asks the user store.
func (h *httpContext) onBody(body []byte) types.Action {
	cfg := h.p.cfg
	params, berr := parseBody(h.kind, body)
	if berr != nil {
		return h.fail(bodyErrorToAPI(berr))
	}
	h.params = params
	cl, err := checkClient(h.t, &h.params)
	if err == nil {
		err = h.checkOrigin(cl)
	}
	if err == nil {
		err = cfg.validate(h.tenant, h.t, cl, &h.params)
	}
	if err != nil {
		return h.fail(err)
	}
	if cfg.mode == modeForward {
		h.body = body
	}
	return h.callStore()
}

// callStore asks the user store about the validated parameters, after attack protection
// (SPEC 6 and 7); both the POST and the redirect step come here.
func (h *httpContext) callStore() types.Action {
	cfg := h.p.cfg
	ip := clientIP()
	att, aerr := h.p.guard.admit(h.tenant, &h.params, ip, unixNow())
	if aerr != nil {
		return h.fail(aerr)
	}
	h.sentAt = time.Now()
	_, derr := proxywasm.DispatchHttpCall(cfg.userStore.cluster, cfg.calloutHeaders(h.requestID),
		calloutBody(h.tenant, &h.params, ip), nil, cfg.userStore.timeoutMS,
		func(numHeaders, bodySize, _ int) { h.onStoreAnswer(att, numHeaders, bodySize) })
	if derr != nil {
		h.p.metrics.storeFailures.Increment(1)
		e := internalError("user store call not dispatched: " + derr.Error())
		h.settle(att, e)
		return h.fail(e)
	}
	return types.ActionPause
}

func (h *httpContext) onStoreAnswer(att attempt, numHeaders, bodySize int) {
	h.p.metrics.storeLatencyMS.Record(uint64(max(time.Since(h.sentAt).Milliseconds(), 0)))
	a := storeAnswer{failed: numHeaders == 0}
	var headers [][2]string
	if !a.failed {
		headers, _ = proxywasm.GetHttpCallResponseHeaders()
		a.status, _ = lookup(headers, ":status")
		a.tooLarge = bodySize > maxAnswerBytes // never read: the VM's heap is small
		if bodySize > 0 && !a.tooLarge {
			a.body, _ = proxywasm.GetHttpCallResponseBody(0, bodySize)
		}
	}
	answer, err := mapAnswer(a)
	h.settle(att, err)
	if err != nil {
		if err.kind == errServer {
			h.p.metrics.storeFailures.Increment(1)
		}
		h.fail(err)
		return
	}
	switch {
	case h.p.cfg.mode == modeForward:
		h.forward(answer)
	case h.redirectTo != "":
		h.respondRedirect(answer, headers)
	default:
		h.respond(answer, headers)
	}
}

// respond answers 200 with the store's object and the configured pass_headers.
func (h *httpContext) respond(answer gjson.Result, storeHeaders [][2]string) {
	headers := h.passHeaders(h.answerHeaders(), storeHeaders)
	h.succeed()
	if err := proxywasm.SendHttpResponse(200, headers, []byte(answer.Raw), -1); err != nil {
		proxywasm.LogError("passwordless_verify: cannot send answer: " + err.Error())
	}
}

// passHeaders appends the store answer's headers named in pass_headers.
func (h *httpContext) passHeaders(headers, storeHeaders [][2]string) [][2]string {
	for _, name := range h.p.cfg.passHeaders {
		for _, kv := range storeHeaders {
			if strings.EqualFold(kv[0], name) {
				headers = append(headers, [2]string{name, kv[1]})
			}
		}
	}
	return headers
}

// forward lets the request go upstream with identity headers and without the code (the
// redirect step's code left :path before anything was decided).
func (h *httpContext) forward(answer gjson.Result) {
	for _, ih := range h.p.cfg.identityHeaders {
		v, ok := identityValue(ih.field, h.tenant, &h.params, answer)
		if !ok {
			continue
		}
		if !validHeaderValue(v) {
			h.fail(internalError("user store field " + strconv.Quote(ih.field) + " is not a valid header value"))
			return
		}
		if err := proxywasm.ReplaceHttpRequestHeader(ih.name, v); err != nil {
			h.fail(internalError("cannot set identity header: " + err.Error()))
			return
		}
	}
	if h.route == routeVerify {
		body := stripCodeFields(h.kind, h.body)
		if err := proxywasm.ReplaceHttpRequestBody(body); err != nil {
			h.fail(internalError("cannot replace body: " + err.Error()))
			return
		}
		// The body changed size; a stale content-length would corrupt the upstream request.
		if err := proxywasm.ReplaceHttpRequestHeader("content-length", strconv.Itoa(len(body))); err != nil {
			h.fail(internalError("cannot set content-length: " + err.Error()))
			return
		}
	}
	h.succeed()
	h.resumed = true
	if err := proxywasm.ResumeHttpRequest(); err != nil {
		proxywasm.LogError("passwordless_verify: cannot resume request: " + err.Error())
	}
}

func (h *httpContext) succeed() {
	h.answered = true
	h.p.metrics.verified.Increment(1)
	h.logOutcome("verified", "")
}

// fail sends the error answer; it is the only path that writes an error.
func (h *httpContext) fail(e *apiError) types.Action {
	h.answered = true
	if c, ok := h.p.metrics.errorsByCode[e.code()]; ok {
		c.Increment(1)
	}
	if c, ok := h.p.metrics.byKind[e.kind]; ok {
		c.Increment(1)
	}
	h.logOutcome(e.code(), e.logReason)
	status, headers, body := e.status(), h.answerHeaders(), errorBody(e)
	if h.redirectTo != "" {
		status, headers, body = 302, h.errorRedirect(e), nil
	}
	if err := proxywasm.SendHttpResponse(status, headers, body, -1); err != nil {
		proxywasm.LogError("passwordless_verify: cannot send answer: " + err.Error())
	}
	return types.ActionPause
}

// logOutcome writes the one info line per handled request. The code is never in it, and the
// client's values are quoted and cut short so they cannot forge log lines.
func (h *httpContext) logOutcome(outcome, reason string) {
	line := "passwordless_verify: tenant=" + quoteSafe(h.tenant) +
		" client=" + quoteSafe(h.params.clientID) +
		" connection=" + quoteSafe(h.params.connection) +
		" outcome=" + outcome +
		" request_id=" + quoteSafe(h.requestID)
	if reason != "" {
		line += " reason=" + quoteSafe(reason)
	}
	proxywasm.LogInfo(line)
}

// lookup finds a header by its lower-case name; hosts hand header names over lower-cased.
func lookup(headers [][2]string, name string) (string, bool) {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// clientIP is the downstream address without its port (SPEC 7).
func clientIP() string {
	addr, err := proxywasm.GetProperty([]string{"source", "address"})
	if err != nil {
		return ""
	}
	return stripPort(string(addr))
}

// hostSharedData is proxy-wasm shared data.
type hostSharedData struct{}

func (hostSharedData) get(key string) ([]byte, uint32, bool, error) {
	v, cas, err := proxywasm.GetSharedData(key)
	if errors.Is(err, types.ErrorStatusNotFound) {
		return nil, 0, false, nil
	}
	return v, cas, err == nil, err
}

func (hostSharedData) set(key string, value []byte, cas uint32) (bool, error) {
	err := proxywasm.SetSharedData(key, value, cas)
	if errors.Is(err, types.ErrorStatusCasMismatch) {
		return true, nil
	}
	return false, err
}
