package filter

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Plugin is the filter for one plugin configuration in one VM.
type Plugin struct {
	cfg     *config
	metrics *metrics
	guard   *attackGuard
	// Buffers reused by every request: a VM runs one callback at a time, and what the host
	// only reads during a call (a log line as it is built, headers it serializes) can go here.
	line        []byte
	record      []byte // the access-log record; apart from line, which may follow it in one callback
	callHeaders [5][2]string
	callBody    []byte // a callout's body: the host copies it during the call
}

// New reads the plugin configuration (SPEC 2) and sets up metrics and attack protection. Its
// error is one line that names the field: Envoy shows it when the plugin fails to start.
func New(configuration []byte, m Metrics, shared SharedData, random io.Reader) (*Plugin, error) {
	cfg, err := parseConfig(configuration)
	if err != nil {
		return nil, errors.New("invalid configuration: " + err.Error())
	}
	p := &Plugin{cfg: cfg, metrics: defineMetrics(m)}
	if p.guard, err = newAttackGuard(shared, cfg, random); err != nil {
		return nil, err
	}
	return p, nil
}

// Action tells the host whether the request goes on now.
type Action uint8

const (
	Continue Action = iota
	Pause
)

// phase is where a request is on its path through the filter. The zero phase is a request
// that is not the filter's: most traffic, which never leaves it.
//
//	notOurs ─(a filter path)─► deciding ─► readingBody ─► (callingGlobal) ─► callingStore ─► answered or forwarded
//	                            │            │               ▲
//	                            │            └─► answered    │ (the redirect step has no body)
//	                            ├────────────────────────────┘
//	                            └─► answered (decided on the headers; the preflight)
//
// A callout is a phase of its own, and its answer is taken only in that phase, so a late or
// repeated answer finds the request moved on and does nothing. callingGlobal, SPEC 14's call
// to the rate-limit service, comes between the checks and callingStore when configured, and
// may end in answered (a refusal) instead.
type phase uint8

const (
	notOurs       phase = iota // passes through untouched (after the identity headers are removed)
	deciding                   // taken by the filter; the headers callback is deciding
	readingBody                // paused while the body is buffered
	callingGlobal              // paused until the rate-limit service answers (SPEC 14)
	callingStore               // paused until the user store answers
	answered                   // a local answer was sent: nothing more goes anywhere
	forwarded                  // verified and let through upstream (forward mode)
)

// Stream is one request. Only the filter's requests get past OnRequestHeaders with state:
// the rest, most traffic, costs the VM only this small struct.
type Stream struct {
	p     *Plugin
	host  Host
	r     *request // made when the filter takes the request; nil while it is notOurs
	phase phase
	route route
}

// request is the state of a request the filter handles.
type request struct {
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
	origin     string  // a cross-origin request's origin header (SPEC 13)
	corsOrigin string  // the origin every answer allows; "" for none
	allow      string  // the allow header of a 405 (SPEC 3)
	att        attempt // taken before the calls (SPEC 7); OnDone settles it if the client leaves
	ip         string  // the client's address, as the calls send it
}

// Init starts a request of p on host; a Stream is meant to live inside the host's context.
func (h *Stream) Init(p *Plugin, host Host) { *h = Stream{p: p, host: host} }

// take makes the request the filter's: from here on it has the state of a handled request.
func (h *Stream) take() {
	h.phase = deciding
	h.r = &request{}
}

func (h *Stream) OnRequestHeaders(endOfStream bool) Action {
	cfg := h.p.cfg
	// Most traffic is not the filter's: its path says so, without copying every header into
	// the VM (unless the identity headers have too many spellings to remove unseen).
	path, err := h.host.RequestHeader(":path")
	var headers [][2]string
	read := err == nil && (cfg.readAllHeaders || cfg.ownsPath(path))
	if read {
		headers, err = h.host.RequestHeaders()
	}
	if err != nil {
		// Without the headers the filter can neither route nor strip identities: fail closed.
		h.take()
		return h.fail(internalError("cannot read request headers: " + err.Error()))
	}
	h.removeIdentityHeaders(headers, read)
	method, _ := lookup(headers, ":method")
	h.route = cfg.route(method, path)
	if h.route == routeNone {
		return Continue
	}
	h.take()
	h.r.requestID, _ = lookup(headers, "x-request-id")
	// First of all, so that no answer, log line or forwarded request has the code in its URL.
	if err := h.removeCode(path); err != nil {
		return h.fail(err)
	}
	if h.route == routePreflight {
		return h.preflight(headers)
	}
	h.p.metrics.requests.Increment(1)
	switch h.route {
	case routeLookalike:
		return h.fail(newError(ErrUnknownPath))
	case routeWrongMethod:
		h.r.allow = cfg.allowed(path)
		return h.fail(newError(ErrMethodNotAllowed))
	case routeRedirect:
		return h.startRedirect(headers, path, endOfStream)
	}
	name, t, kind, herr := cfg.checkHead(headers)
	h.r.tenant, h.r.t, h.r.kind = name, t, kind
	h.setOrigin(headers)
	if herr != nil {
		return h.fail(herr)
	}
	if endOfStream {
		return h.onBody(nil)
	}
	// Pause: with allow_on_headers_stop_iteration Envoy still delivers the body, and
	// forwards nothing until the filter resumes.
	h.phase = readingBody
	return Pause
}

// removeIdentityHeaders removes every spelling of every identity header from every request,
// so no client can forge one upstream (SPEC 9). Where the map was read, only the ones
// present cost a host call; elsewhere removing an absent header is a no-op, and costs less
// than reading the map to look.
func (h *Stream) removeIdentityHeaders(headers [][2]string, read bool) {
	if !read {
		for _, name := range h.p.cfg.identitySpellings {
			_ = h.host.RemoveRequestHeader(name)
		}
		return
	}
	for _, kv := range headers {
		if h.p.cfg.isIdentityHeader(kv[0]) {
			_ = h.host.RemoveRequestHeader(kv[0])
		}
	}
}

// removeCode takes the code parameters out of :path (SPEC 3 and 12.6).
func (h *Stream) removeCode(path string) *apiError {
	if clean := withoutCode(path); clean != path {
		if err := h.host.ReplaceRequestHeader(":path", clean); err != nil {
			return internalError("cannot remove the code from :path: " + err.Error())
		}
	}
	return nil
}

// startRedirect is GET verify_redirect_path (SPEC 12): everything it needs is in the headers,
// and a body is refused on them, never buffered.
func (h *Stream) startRedirect(headers [][2]string, path string, endOfStream bool) Action {
	name, t, err := h.p.cfg.tenantOf(headers)
	if err != nil {
		return h.fail(err)
	}
	h.r.tenant, h.r.t = name, t
	if hasBody(headers, endOfStream) {
		return h.fail(newError(ErrRedirectBody))
	}
	_, query, _ := strings.Cut(path, "?")
	return h.verify(parseQuery(query))
}

// hasBody: the headers announce a body, by a content-length other than 0, a
// transfer-encoding, or (HTTP/2 and 3) by not ending the stream.
func hasBody(headers [][2]string, endOfStream bool) bool {
	length, ok := lookup(headers, "content-length")
	_, chunked := lookup(headers, "transfer-encoding")
	return !endOfStream || chunked || ok && strings.TrimSpace(length) != "0"
}

func (h *Stream) OnRequestBody(bodySize int, endOfStream bool) Action {
	switch {
	case h.phase == notOurs || h.phase == forwarded:
		return Continue
	case h.phase != readingBody:
		return Pause // held while a callout runs, or for good once answered
	case bodySize > h.p.cfg.maxRequestBytes:
		return h.fail(h.p.cfg.tooLarge())
	case !endOfStream:
		return Pause // keep buffering
	}
	return h.readBody(bodySize)
}

// OnRequestTrailers ends a body that came with trailers: no body callback says
// end_of_stream then.
func (h *Stream) OnRequestTrailers() Action {
	switch h.phase {
	case notOurs, forwarded:
		return Continue
	case readingBody:
		return h.readBody(h.p.cfg.maxRequestBytes + 1)
	}
	return Pause
}

func (h *Stream) readBody(size int) Action {
	body, err := h.host.RequestBody(size)
	if err != nil {
		return h.fail(internalError("cannot read request body: " + err.Error()))
	}
	if len(body) > h.p.cfg.maxRequestBytes {
		return h.fail(h.p.cfg.tooLarge())
	}
	return h.onBody(body)
}

func (h *Stream) onBody(body []byte) Action {
	if h.p.cfg.mode == modeForward {
		h.r.body = body // sent upstream without the code once verified
	}
	return h.verify(parseBody(h.r.kind, body))
}

// verify is the one check chain of the POST and the redirect step, from their parsed
// parameters on: SPEC 5 rows 6 and 7, the step's own check right after row 7 (SPEC 12's
// redirect_uri, SPEC 13's origin), rows 8 to 16, then the user store.
func (h *Stream) verify(params verifyParams, err *apiError) Action {
	if err == nil {
		h.r.params = params
		err = h.check()
	}
	if err != nil {
		return h.fail(err)
	}
	return h.ask()
}

func (h *Stream) check() *apiError {
	p := &h.r.params
	cl, err := checkClient(h.r.t, p)
	if err != nil {
		return err
	}
	if h.route == routeRedirect {
		if err := checkRedirectURI(cl, p.redirectURI); err != nil {
			return err
		}
		h.r.redirectTo = p.redirectURI // from here on errors redirect to it
	} else if err := h.checkOrigin(cl); err != nil {
		return err
	}
	return h.p.cfg.validate(h.r.tenant, h.r.t, cl, p)
}

// ask takes an attempt (SPEC 7), then asks the rate-limit service about it when configured
// (SPEC 14), then the user store (SPEC 6).
func (h *Stream) ask() Action {
	ip := h.clientIP()
	att, aerr := h.p.guard.admit(h.r.tenant, &h.r.params, ip, unixNow())
	if aerr != nil {
		return h.fail(aerr)
	}
	if h.p.cfg.global != nil {
		return h.askGlobal(att, ip)
	}
	return h.callStore(att, ip)
}

// callStore asks the user store about the validated parameters, for the attempt att took.
func (h *Stream) callStore(att attempt, ip string) Action {
	cfg := h.p.cfg
	h.r.att, h.r.ip = att, ip // att is settled by OnDone if the client leaves during the call
	h.r.sentAt = time.Now()
	h.p.callBody = appendCalloutBody(h.p.callBody[:0], h.r.tenant, &h.r.params, ip)
	derr := h.call(callingStore, cfg.userStore.cluster, cfg.appendCalloutHeaders(h.p.callHeaders[:0], h.r.requestID),
		h.p.callBody, cfg.userStore.timeoutMS)
	clear(h.p.callBody) // the host has copied it, and it holds the code
	if derr != nil {
		h.p.metrics.storeFailures.Increment(1)
		// Only a call never sent gives its attempt back: the store cannot have judged it.
		h.giveBack(att)
		return h.fail(internalError("user store call not dispatched: " + derr.Error()))
	}
	return Pause
}

// OnDone is the end of the stream, answered or not. A client that left while the rate-limit
// service was being asked gets its attempt back: the store was never asked, and never will be
// for this request. One that left during the store call may have been judged: its attempt
// settles as an unknown outcome (SPEC 7).
func (h *Stream) OnDone() {
	switch h.phase {
	case callingGlobal:
		h.phase = answered
		h.giveBack(h.r.att)
	case callingStore:
		h.phase = answered
		h.settleAs(h.r.att, verdictUnknown)
	}
}

// call dispatches a callout in phase ph. Its answer is read, and handled as that phase's
// answer, only while the request is still in that phase. What the handlers need beyond the
// answer is in h.r (att, ip), so a call costs one closure.
func (h *Stream) call(ph phase, cluster string, headers [][2]string, body []byte, timeoutMS uint32) error {
	h.phase = ph // before the dispatch: a host may answer at once
	return h.host.Call(cluster, headers, body, timeoutMS, func(numHeaders, bodySize int) {
		if h.phase != ph {
			return
		}
		a := h.readAnswer(numHeaders, bodySize)
		if ph == callingGlobal {
			h.onGlobalAnswer(h.r.att, h.r.ip, a)
		} else {
			h.onStoreAnswer(h.r.att, a)
		}
	})
}

// readAnswer reads a callout's answer; a body over MaxAnswerBytes is never read, since the
// VM's heap is small.
func (h *Stream) readAnswer(numHeaders, bodySize int) callAnswer {
	a := callAnswer{failed: numHeaders == 0}
	if a.failed {
		return a
	}
	a.headers, _ = h.host.CallAnswerHeaders()
	a.status, _ = lookup(a.headers, ":status")
	a.tooLarge = bodySize > MaxAnswerBytes
	if bodySize > 0 && !a.tooLarge {
		a.body, _ = h.host.CallAnswerBody(bodySize)
	}
	return a
}

func (h *Stream) onStoreAnswer(att attempt, a callAnswer) {
	h.p.metrics.storeLatencyMS.Record(uint64(max(time.Since(h.r.sentAt).Milliseconds(), 0)))
	answer, err := mapAnswer(a)
	h.settle(att, err)
	if err != nil {
		if err.kind == ErrServer {
			h.p.metrics.storeFailures.Increment(1)
		}
		h.fail(err)
		return
	}
	switch {
	case h.p.cfg.mode == modeForward:
		h.forward(answer)
	case h.r.redirectTo != "":
		h.respondRedirect(answer, a.headers)
	default:
		h.respond(answer, a.headers)
	}
}

// respond answers 200 with the store's object and the configured pass_headers.
func (h *Stream) respond(answer gjson.Result, storeHeaders [][2]string) {
	headers := h.passHeaders(h.answerHeaders(), storeHeaders)
	h.succeed()
	h.send(200, headers, bytesOf(answer.Raw))
}

// passHeaders appends the store answer's headers named in pass_headers.
func (h *Stream) passHeaders(headers, storeHeaders [][2]string) [][2]string {
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
func (h *Stream) forward(answer gjson.Result) {
	for _, ih := range h.p.cfg.identityHeaders {
		v, ok := identityValue(ih.field, h.r.tenant, &h.r.params, answer)
		if !ok {
			continue
		}
		if !validHeaderValue(v) {
			h.fail(internalError("user store field " + strconv.Quote(ih.field) + " is not a valid header value"))
			return
		}
		if err := h.host.ReplaceRequestHeader(ih.name, v); err != nil {
			h.fail(internalError("cannot set identity header: " + err.Error()))
			return
		}
	}
	if h.route == routeVerify {
		body := stripCodeFields(h.r.kind, h.r.body)
		if err := h.host.ReplaceRequestBody(body); err != nil {
			h.fail(internalError("cannot replace body: " + err.Error()))
			return
		}
		// The body changed size; a stale content-length would corrupt the upstream request.
		if err := h.host.ReplaceRequestHeader("content-length", strconv.Itoa(len(body))); err != nil {
			h.fail(internalError("cannot set content-length: " + err.Error()))
			return
		}
	}
	h.succeed()
	h.phase = forwarded
	if err := h.host.Resume(); err != nil {
		h.host.Log(LogError, "passwordless_verify: cannot resume request: "+err.Error())
	}
}

func (h *Stream) succeed() {
	h.p.metrics.verified.Increment(1)
	h.record("verified", "")
}

// fail sends the error answer; it is the only path that writes an error.
func (h *Stream) fail(e *apiError) Action {
	h.p.metrics.byCode[e.kind].Increment(1)
	if c := h.p.metrics.byKind[e.kind]; c != nil {
		c.Increment(1)
	}
	h.record(e.code(), e.logReason)
	if h.r.redirectTo != "" {
		h.send(302, h.errorRedirect(e), nil)
	} else {
		h.send(e.status(), h.answerHeaders(), appendErrorBody(nil, e)) // its own: a host may keep the body
	}
	return Pause
}

// send answers the request locally: nothing of it goes anywhere after this.
func (h *Stream) send(status uint32, headers [][2]string, body []byte) {
	h.phase = answered
	if err := h.host.SendResponse(status, headers, body); err != nil {
		h.host.Log(LogError, "passwordless_verify: cannot send answer: "+err.Error())
	}
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

// lookupAll is the first value of a header and how many times it is given.
func lookupAll(headers [][2]string, name string) (first string, n int) {
	for _, kv := range headers {
		if kv[0] == name {
			if n == 0 {
				first = kv[1]
			}
			n++
		}
	}
	return first, n
}

// clientIP is the downstream address without its port (SPEC 7).
func (h *Stream) clientIP() string {
	addr, err := h.host.SourceAddress()
	if err != nil {
		return ""
	}
	return stripPort(addr)
}
