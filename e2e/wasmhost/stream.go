package wasmhost

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Request is one downstream request as Envoy's HTTP connection manager hands it to the filter.
type Request struct {
	Method, Path, Authority, Scheme string      // :method, :path, :authority, :scheme (defaults GET, /, localhost, http)
	Headers                         [][2]string // other headers; keys are lower-cased
	Body                            []byte
	ChunkSize                       int    // deliver the body in chunks of this size (0 = one chunk)
	SourceAddress                   string // property source.address, default "127.0.0.1:50000"
	Trailers                        [][2]string
	// Upstream answers a forwarded request, as Envoy's router would; Do passes the answer
	// through the filter's response headers callback into Result.Response. Nil: no answer.
	Upstream func(ctx context.Context, forwarded *Result) (*UpstreamResponse, error)
}

// UpstreamResponse is the upstream's answer to a forwarded request.
type UpstreamResponse struct {
	Status  uint32
	Headers [][2]string // without :status
	Body    []byte
}

// Result is the outcome of one stream.
type Result struct {
	Local     *LocalResponse    // non-nil if the filter (or Envoy on its behalf) answered locally
	Forwarded bool              // headers and the whole body went upstream
	Headers   [][2]string       // request headers as forwarded (after the filter's changes)
	Body      []byte            // request body as forwarded
	Trailers  [][2]string       // request trailers as forwarded
	Callouts  []CalloutRecord   // every proxy_http_call made from this stream's context
	Response  *UpstreamResponse // the upstream's answer as the filter left it (see Respond)
	// RequestHeaders are the request headers as the filter left them, answered or not: what
	// Envoy's access log reads (%REQ(:PATH)% and the like).
	RequestHeaders [][2]string
	// Paused: the stream ended with the filter still holding the request (it neither
	// continued nor answered), or holding its own local reply. Envoy would hang until a timeout.
	Paused bool
	Reset  bool // the filter reset the stream (proxy_close_stream): no response at all
	// FilterState is what the filter set with set_property, by Envoy's key ("wasm." and the
	// property's name): what an access log's %FILTER_STATE(key:PLAIN)% prints.
	FilterState map[string][]byte
}

// LocalResponse is a reply sent instead of forwarding, as the client would receive it after the
// filter's own response callbacks ran. Headers exclude :status.
type LocalResponse struct {
	Status  uint32
	Headers [][2]string
	Body    []byte
	Details string
}

// ErrStreamEnded is returned when request data is sent on a stream that was already answered,
// reset, or finished: Envoy would not call the filter any more.
var ErrStreamEnded = errors.New("wasmhost: stream already ended")

type iterState int

const (
	iterFlowing    iterState = iota
	iterStopped              // StopIteration / StopIterationAnd*: body callbacks still run
	iterStoppedAll           // StopAllIteration*: Envoy holds data without calling the filter
)

// Stream is one HTTP stream through the filter, driven step by step. Do is built on it.
// Methods lock the VM, so a stream may be driven from any goroutine, one call at a time.
type Stream struct {
	vm  *VM
	id  uint32
	req Request

	created, headersSent, finished bool

	headers      *headerMap // the request header map Envoy owns
	headersLive  bool       // request_headers_ set: the filter may read and change it
	trailers     *headerMap
	trailersLive bool
	trailersIn   bool // downstream sent trailers
	trailersSeen bool // the filter's trailers callback ran (or it added trailers itself)
	chunk        []byte
	chunkLive    bool // request_body_buffer_ set: the current chunk is visible
	buffering    bool // buffering_request_body_: the filter sees everything buffered so far
	buffered     []byte
	bufferAll    bool // Envoy is buffering for a StopAll: 413 past the limit
	eos          bool // downstream finished the request
	truncated    bool // the filter ended the request early (ContinueAndEndStream)
	state        iterState
	filterState  map[string][]byte // by Envoy's key: "wasm." and set_property's path
	logPhase     bool

	upHeaders  [][2]string
	upSent     bool
	upBody     []byte
	upTrailers [][2]string
	upDone     bool

	local        *LocalResponse
	respHeaders  *headerMap
	respLive     bool
	respBody     []byte
	respBodyLive bool
	respPaused   bool
	respBodyDue  bool
	reset        bool
	upResp       *UpstreamResponse

	callouts     int // made from this stream's context
	calloutsDone []CalloutRecord
}

// NewStream starts a stream. The filter's context is created when headers arrive, as in Envoy.
func (vm *VM) NewStream(req Request) (*Stream, error) {
	if err := vm.Err(); err != nil {
		return nil, err
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	if req.Path == "" {
		req.Path = "/"
	}
	if req.Authority == "" {
		req.Authority = "localhost"
	}
	if req.Scheme == "" {
		req.Scheme = "http"
	}
	if req.SourceAddress == "" {
		req.SourceAddress = "127.0.0.1:50000"
	}
	h := newHeaderMap([][2]string{{":authority", req.Authority}, {":path", req.Path}, {":method", req.Method}, {":scheme", req.Scheme}})
	for _, p := range req.Headers {
		h.add(p[0], p[1])
	}
	// The connection manager adds these before any filter runs (generate_request_id defaults on).
	if _, ok := h.get("x-forwarded-proto"); !ok {
		h.add("x-forwarded-proto", req.Scheme)
	}
	if _, ok := h.get("x-request-id"); !ok {
		h.add("x-request-id", uuid4())
	}
	return &Stream{vm: vm, req: req, headers: h}, nil
}

func uuid4() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ID is the stream's context id (0 before headers were sent).
func (s *Stream) ID() uint32 {
	s.vm.mu.Lock()
	defer s.vm.mu.Unlock()
	return s.id
}

// Ended reports whether Envoy would stop feeding the filter request data: a local reply was
// sent, the stream was reset, or the VM failed.
func (s *Stream) Ended() bool {
	s.vm.mu.Lock()
	defer s.vm.mu.Unlock()
	return s.ended()
}

func (s *Stream) ended() bool {
	return s.local != nil || s.reset || s.finished || s.vm.Err() != nil
}

func (s *Stream) create(ctx context.Context) error {
	if s.created {
		return nil
	}
	s.created = true
	c := s.vm.newContext(s)
	s.id = c.id
	_, err := s.vm.invoke(ctx, "proxy_on_context_create", s.id, s.vm.fnContextCreate, uint64(s.id), uint64(s.vm.rootID))
	s.vm.runAfter(ctx)
	return err
}

// lock takes the VM lock and checks the VM can serve this stream.
func (s *Stream) lock() error {
	s.vm.mu.Lock()
	if s.vm.phase != phaseRunning {
		s.vm.mu.Unlock()
		if err := s.vm.Err(); err != nil {
			return err
		}
		return errors.New("wasmhost: VM is closed")
	}
	return nil
}

// vmErr turns a trap during this stream into Envoy's fail-closed reply and returns the error.
func (s *Stream) vmErr() error {
	err := s.vm.Err()
	if err != nil && s.local == nil && !s.reset {
		// failStream: 503 with details wasm_fail_stream, sent without the VM.
		s.local = &LocalResponse{Status: 503, Details: "wasm_fail_stream"}
	}
	return err
}

// SendHeaders delivers the request headers (proxy_on_request_headers). endOfStream means the
// request has no body and no trailers.
func (s *Stream) SendHeaders(ctx context.Context, endOfStream bool) (HeadersAction, error) {
	if err := s.lock(); err != nil {
		return HeadersNotDelivered, err
	}
	defer s.vm.mu.Unlock()
	if s.headersSent {
		return HeadersNotDelivered, errors.New("wasmhost: headers already sent")
	}
	s.headersSent = true
	s.eos = endOfStream
	if err := s.create(ctx); err != nil {
		return HeadersNotDelivered, s.vmErr()
	}
	s.headersLive = true
	raw, err := s.vm.invoke(ctx, "proxy_on_request_headers", s.id, s.vm.fnRequestHeaders,
		uint64(s.id), uint64(size32(s.headers.len())), b2u(endOfStream))
	if err != nil {
		return HeadersNotDelivered, s.vmErr()
	}
	a := s.headersAction(raw)
	switch a {
	case HeadersContinue, HeadersContinueAndEndStream:
		s.headersLive = false // Envoy drops request_headers_ once headers continue
		// ContinueAndEndStream: the request ends upstream here; later body is dropped.
		s.truncated = a == HeadersContinueAndEndStream
		s.flow()
	case HeadersStopIteration:
		s.state = iterStopped
	default:
		s.state = iterStoppedAll
		s.bufferAll = a == HeadersStopAllIterationAndBuffer
	}
	s.vm.runAfter(ctx)
	return a, s.vmErr()
}

// headersAction converts a raw headers/trailers result like cpp-host does.
func (s *Stream) headersAction(raw uint64) HeadersAction {
	switch {
	case s.vm.stopNext || raw > uint64(HeadersStopAllIterationAndWatermark):
		return HeadersStopAllIterationAndWatermark
	case raw == uint64(HeadersStopIteration) && s.vm.cfg.DisallowOnHeadersStopIteration:
		return HeadersStopAllIterationAndWatermark
	}
	return HeadersAction(raw)
}

func dataAction(vm *VM, raw uint64) DataAction {
	if vm.stopNext || raw > uint64(DataStopIterationNoBuffer) {
		return DataStopIterationNoBuffer
	}
	return DataAction(raw)
}

func trailersAction(vm *VM, raw uint64) HeadersAction {
	if vm.stopNext || raw > uint64(HeadersStopIteration) {
		return HeadersStopIteration
	}
	return HeadersAction(raw)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (s *Stream) bufferLimit() int {
	switch l := s.vm.cfg.BufferLimit; {
	case l == 0:
		return defaultBufferLimit
	case l < 0:
		return int(^uint(0) >> 1)
	default:
		return l
	}
}

// SendBody delivers one chunk of request body (proxy_on_request_body). endOfStream marks the
// last chunk when no trailers follow.
func (s *Stream) SendBody(ctx context.Context, chunk []byte, endOfStream bool) (DataAction, error) {
	if err := s.lock(); err != nil {
		return DataNotDelivered, err
	}
	defer s.vm.mu.Unlock()
	if !s.headersSent || s.eos {
		return DataNotDelivered, errors.New("wasmhost: body sent before headers or after end of stream")
	}
	if s.ended() {
		return DataNotDelivered, ErrStreamEnded
	}
	s.eos = endOfStream
	if s.truncated {
		return DataNotDelivered, nil
	}
	if s.state == iterStoppedAll {
		// The filter stopped everything: Envoy buffers without calling it.
		s.buffered = append(s.buffered, chunk...)
		if s.bufferAll && len(s.buffered) > s.bufferLimit() {
			s.tooLarge(ctx)
		}
		return DataNotDelivered, s.vmErr()
	}
	a := s.decodeData(ctx, append([]byte(nil), chunk...), endOfStream)
	s.vm.runAfter(ctx)
	return a, s.vmErr()
}

// decodeData is Envoy's Context::decodeData plus what the filter manager does with the result.
func (s *Stream) decodeData(ctx context.Context, data []byte, eos bool) DataAction {
	var size int
	if s.buffering {
		// addDecodedData: the new chunk joins the buffer, and the filter sees the whole of it.
		s.buffered = append(s.buffered, data...)
		if len(s.buffered) > s.bufferLimit() {
			s.tooLarge(ctx)
			return DataNotDelivered
		}
		size = len(s.buffered)
	} else {
		s.chunk, s.chunkLive = data, true
		size = len(data)
	}
	raw, err := s.vm.invoke(ctx, "proxy_on_request_body", s.id, s.vm.fnRequestBody, uint64(s.id), uint64(size), b2u(eos))
	if err != nil {
		return DataNotDelivered
	}
	a := dataAction(s.vm, raw)
	wasBuffering := s.buffering
	s.buffering = a == DataStopIterationAndBuffer
	switch a {
	case DataContinue:
		if !wasBuffering {
			s.buffered = append(s.buffered, s.chunk...)
		}
		s.chunk, s.chunkLive = nil, false
		s.flow()
	case DataStopIterationAndBuffer, DataStopIterationAndWatermark:
		if !wasBuffering {
			s.buffered = append(s.buffered, s.chunk...)
		}
		if s.state == iterFlowing {
			s.state = iterStopped
		}
		if len(s.buffered) > s.bufferLimit() && a == DataStopIterationAndBuffer {
			s.tooLarge(ctx)
		}
	case DataStopIterationNoBuffer:
		// The chunk is dropped unless it already was the buffer.
		if s.state == iterFlowing {
			s.state = iterStopped
		}
	}
	return a
}

// tooLarge is Envoy's own 413 when a stopped filter makes it buffer past the limit.
func (s *Stream) tooLarge(ctx context.Context) {
	s.sendLocal(ctx, 413, []byte("Payload Too Large"), nil, "request_payload_too_large")
}

// SendTrailers delivers request trailers (proxy_on_request_trailers); they end the request.
func (s *Stream) SendTrailers(ctx context.Context, trailers [][2]string) (HeadersAction, error) {
	if err := s.lock(); err != nil {
		return HeadersNotDelivered, err
	}
	defer s.vm.mu.Unlock()
	if !s.headersSent || s.eos {
		return HeadersNotDelivered, errors.New("wasmhost: trailers sent before headers or after end of stream")
	}
	if s.ended() {
		return HeadersNotDelivered, ErrStreamEnded
	}
	s.eos, s.trailersIn = true, true
	s.trailers = newHeaderMap(trailers)
	if s.truncated {
		return HeadersNotDelivered, nil
	}
	if s.state == iterStoppedAll {
		return HeadersNotDelivered, nil
	}
	a := s.decodeTrailers(ctx)
	s.vm.runAfter(ctx)
	return a, s.vmErr()
}

func (s *Stream) decodeTrailers(ctx context.Context) HeadersAction {
	s.trailersLive, s.trailersSeen = true, true
	raw, err := s.vm.invoke(ctx, "proxy_on_request_trailers", s.id, s.vm.fnRequestTrailers, uint64(s.id), uint64(size32(s.trailers.len())))
	if err != nil {
		return HeadersNotDelivered
	}
	a := trailersAction(s.vm, raw)
	if a == HeadersContinue {
		s.trailersLive = false
		s.flow()
	} else if s.state == iterFlowing {
		s.state = iterStopped
	}
	return a
}

// flow is the filter letting iteration continue: headers (once), everything buffered, and the
// trailers once the filter has seen them, go upstream.
func (s *Stream) flow() {
	if s.local != nil || s.reset {
		return
	}
	s.state = iterFlowing
	if !s.upSent {
		s.upSent = true
		s.upHeaders = s.headers.pairs()
	}
	s.upBody = append(s.upBody, s.buffered...)
	s.buffered = nil
	if s.trailers != nil && s.trailersSeen && s.upTrailers == nil {
		s.upTrailers = s.trailers.pairs()
	}
	if s.truncated || s.eos && (!s.trailersIn || s.trailersSeen) {
		s.upDone = true
	}
}

// continueRequest is proxy_continue_stream(request) taking effect (Envoy: continueDecoding).
func (s *Stream) continueRequest(ctx context.Context) {
	if s.local != nil || s.reset || s.finished {
		return
	}
	switch s.state {
	case iterStopped:
		s.flow()
	case iterStoppedAll:
		// Headers go on, then the filter gets what Envoy held for it, then any trailers.
		held := s.buffered
		s.buffered = nil
		s.state = iterFlowing
		if !s.upSent {
			s.upSent = true
			s.upHeaders = s.headers.pairs()
		}
		if len(held) > 0 || (s.eos && !s.trailersIn && !s.upDone) {
			if len(held) > 0 {
				s.decodeData(ctx, held, s.eos && !s.trailersIn)
			} else {
				s.flow()
			}
		}
		if s.trailersIn && !s.trailersSeen && s.state == iterFlowing && s.local == nil && s.vm.Err() == nil {
			s.decodeTrailers(ctx)
		}
	}
}

// sendLocal is Envoy's sendLocalReply: the reply goes out through this filter's response
// callbacks (proxy_on_response_headers/body), and the request gets no more callbacks.
func (s *Stream) sendLocal(ctx context.Context, status uint32, body []byte, hdrs [][2]string, details string) {
	if s.local != nil || s.reset {
		s.vm.addLog(LogWarn, fmt.Sprintf("wasmhost: ignored local reply %d: stream already answered", status))
		return
	}
	s.local = &LocalResponse{Status: status, Details: details}
	s.chunkLive, s.trailersLive = false, false
	h := newHeaderMap([][2]string{{":status", strconv.Itoa(int(status))}})
	for _, p := range hdrs {
		h.add(p[0], p[1])
	}
	if len(body) > 0 {
		h.replace("content-length", strconv.Itoa(len(body)))
		if _, ok := h.get("content-type"); !ok {
			h.add("content-type", "text/plain")
		}
	}
	s.respHeaders, s.respBody = h, append([]byte(nil), body...)
	s.finishLocal()
	if s.vm.Err() != nil {
		return
	}
	s.respLive = true
	raw, err := s.vm.invoke(ctx, "proxy_on_response_headers", s.id, s.vm.fnResponseHeaders,
		uint64(s.id), uint64(size32(h.len())), b2u(len(body) == 0))
	if err != nil {
		return
	}
	a := s.headersAction(raw)
	s.respBodyDue = len(body) > 0
	if a == HeadersContinue {
		s.respLive = false
		s.sendLocalBody(ctx)
	} else {
		s.respPaused = true
	}
	s.finishLocal()
}

func (s *Stream) sendLocalBody(ctx context.Context) {
	if !s.respBodyDue || s.vm.Err() != nil {
		return
	}
	s.respBodyDue = false
	s.respBodyLive = true
	raw, err := s.vm.invoke(ctx, "proxy_on_response_body", s.id, s.vm.fnResponseBody,
		uint64(s.id), uint64(len(s.respBody)), 1)
	if err != nil {
		return
	}
	if dataAction(s.vm, raw) != DataContinue {
		s.respPaused = true
	} else {
		s.respBodyLive = false
	}
	s.finishLocal()
}

// finishLocal snapshots the reply as the client would get it now.
func (s *Stream) finishLocal() {
	if st, ok := s.respHeaders.get(":status"); ok {
		if n, err := strconv.ParseUint(st, 10, 32); err == nil {
			s.local.Status = uint32(n)
		}
	}
	var hs [][2]string
	for _, p := range s.respHeaders.kv {
		if p[0] != ":status" {
			hs = append(hs, p)
		}
	}
	s.local.Headers = hs
	s.local.Body = append([]byte(nil), s.respBody...)
}

// continueResponse is proxy_continue_stream(response) for a paused local reply.
func (s *Stream) continueResponse(ctx context.Context) {
	if s.local == nil || !s.respPaused {
		return
	}
	s.respPaused = false
	s.respLive, s.respBodyLive = false, false
	s.sendLocalBody(ctx)
	s.finishLocal()
}

// Wait delivers completed callouts until the stream is answered or reset, or none of the
// callouts its context made is in flight. A stream still paused after that would hang in Envoy
// until a timeout; Finish reports it as Paused.
func (s *Stream) Wait(ctx context.Context) error {
	vm := s.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	// A forwarded request still waits for its callouts: the upstream answer would take at
	// least as long, so Envoy would deliver them before the stream ends.
	err := vm.pumpUntil(ctx, func() bool { return s.local != nil || s.reset || s.inFlight() == 0 })
	if err != nil && vm.Err() != nil {
		return s.vmErr()
	}
	return err
}

func (s *Stream) inFlight() int {
	return s.callouts - len(s.calloutsDone)
}

// Finish ends the stream like Envoy destroying it: proxy_on_log (request and response headers
// readable), proxy_on_done, proxy_on_delete. Callouts still in flight are then awaited and
// delivered to the root context (where the SDK finds the stream gone), and the Result built.
func (s *Stream) Finish(ctx context.Context) (*Result, error) {
	vm := s.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if s.finished {
		return nil, errors.New("wasmhost: stream already finished")
	}
	s.finished = true
	if vm.Err() == nil && vm.phase == phaseRunning {
		if err := s.create(ctx); err == nil {
			s.logPhase = true
			_, _ = vm.invoke(ctx, "proxy_on_log", s.id, vm.fnLog, uint64(s.id))
			s.logPhase = false
			vm.runAfter(ctx)
			_, _ = vm.invoke(ctx, "proxy_on_done", s.id, vm.fnDone, uint64(s.id))
			vm.runAfter(ctx)
			_, _ = vm.invoke(ctx, "proxy_on_delete", s.id, vm.fnDelete, uint64(s.id))
			vm.runAfter(ctx)
		}
	}
	delete(vm.contexts, s.id)
	var werr error
	for s.inFlight() > 0 && vm.Err() == nil {
		wake := vm.wakeup()
		vm.pump(ctx)
		if s.inFlight() == 0 {
			break
		}
		vm.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			werr = ctx.Err()
		}
		vm.mu.Lock()
		if werr != nil {
			break
		}
	}
	err := s.vmErr()
	if err == nil {
		err = werr
	}
	return s.result(), err
}

// Snapshot reports the stream's outcome so far without ending it: what has gone upstream, any
// local reply, the callouts delivered. Paused means "held by the filter right now".
func (s *Stream) Snapshot() *Result {
	s.vm.mu.Lock()
	defer s.vm.mu.Unlock()
	return s.result()
}

func (s *Stream) result() *Result {
	r := &Result{
		Forwarded: s.upSent && s.upDone && s.local == nil && !s.reset,
		Callouts:  append([]CalloutRecord(nil), s.calloutsDone...),
		Reset:     s.reset,

		RequestHeaders: s.headers.pairs(),
	}
	if s.local != nil {
		l := *s.local
		r.Local = &l
	}
	if s.upSent {
		r.Headers = append([][2]string(nil), s.upHeaders...)
		r.Body = append([]byte{}, s.upBody...)
		r.Trailers = append([][2]string(nil), s.upTrailers...)
	}
	if s.upResp != nil {
		resp := *s.upResp
		r.Response = &resp
	}
	r.Paused = (s.local == nil && !s.reset && !s.upDone) || s.respPaused
	r.FilterState = maps.Clone(s.filterState)
	return r
}

// Do runs one whole request through the filter like Envoy would: headers, the body in chunks
// (stopping as soon as the filter answers), trailers, then the filter's callouts are performed
// and delivered until it decides, and finally the stream is logged and destroyed.
func (vm *VM) Do(ctx context.Context, req Request) (*Result, error) {
	s, err := vm.NewStream(req)
	if err != nil {
		return nil, err
	}
	body := req.Body
	noBody := len(body) == 0 && len(req.Trailers) == 0
	if _, err := s.SendHeaders(ctx, noBody); err != nil {
		return s.finishAfter(ctx, err)
	}
	size := req.ChunkSize
	if size <= 0 || size > len(body) {
		size = len(body)
	}
	for off := 0; off < len(body) && !s.Ended(); off += size {
		end := min(off+size, len(body))
		if _, err := s.SendBody(ctx, body[off:end], end == len(body) && len(req.Trailers) == 0); err != nil {
			return s.finishAfter(ctx, err)
		}
	}
	if len(req.Trailers) > 0 && !s.Ended() {
		if _, err := s.SendTrailers(ctx, req.Trailers); err != nil {
			return s.finishAfter(ctx, err)
		}
	}
	if err := s.Wait(ctx); err != nil {
		return s.finishAfter(ctx, err)
	}
	if fwd := s.Snapshot(); fwd.Forwarded && req.Upstream != nil {
		resp, err := req.Upstream(ctx, fwd)
		if err == nil {
			err = s.Respond(ctx, resp)
		}
		if err != nil {
			return s.finishAfter(ctx, err)
		}
	}
	return s.Finish(ctx)
}

// Respond passes the upstream's answer to a forwarded request through the filter's response
// headers callback (proxy_on_response_headers), where it may change the headers. The
// response body callbacks are not modelled: the body is kept as it came.
func (s *Stream) Respond(ctx context.Context, resp *UpstreamResponse) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.vm.mu.Unlock()
	if !s.upSent || !s.upDone || s.local != nil || s.reset || s.finished || s.upResp != nil {
		return errors.New("wasmhost: no forwarded request waiting for an answer")
	}
	h := newHeaderMap([][2]string{{":status", strconv.Itoa(int(resp.Status))}})
	for _, p := range resp.Headers {
		h.add(p[0], p[1])
	}
	s.respHeaders, s.respLive = h, true
	_, err := s.vm.invoke(ctx, "proxy_on_response_headers", s.id, s.vm.fnResponseHeaders,
		uint64(s.id), uint64(h.len()), b2u(len(resp.Body) == 0)) //nolint:gosec // G115: a length is never negative
	s.respLive = false
	s.vm.runAfter(ctx)
	if err != nil {
		return s.vmErr()
	}
	out := &UpstreamResponse{Status: resp.Status, Body: append([]byte(nil), resp.Body...)}
	for _, p := range h.kv {
		if p[0] != ":status" {
			out.Headers = append(out.Headers, p)
		}
	}
	s.upResp = out
	return nil
}

// finishAfter still finishes the stream (and returns its partial result) after an error.
func (s *Stream) finishAfter(ctx context.Context, err error) (*Result, error) {
	res, _ := s.Finish(ctx)
	return res, err
}

// String summarizes a result for test failure messages.
func (r *Result) String() string {
	var b strings.Builder
	if r.Local != nil {
		fmt.Fprintf(&b, "local %d %q %s", r.Local.Status, r.Local.Body, r.Local.Details)
	} else {
		fmt.Fprintf(&b, "forwarded=%v paused=%v reset=%v body=%q", r.Forwarded, r.Paused, r.Reset, r.Body)
	}
	fmt.Fprintf(&b, " callouts=%d", len(r.Callouts))
	return b.String()
}
