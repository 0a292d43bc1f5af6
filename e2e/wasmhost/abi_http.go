package wasmhost

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tetratelabs/wazero/api"
)

// HTTP-stream host functions: header maps, bodies, local replies, continue/close, callouts.

// constMap is Envoy's getConstMap: which map the active context may read now. nil means "not
// available", which get_header_map_value reports as BadArgument (NotFound during proxy_on_log).
func (vm *VM) constMap(t uint32) *headerMap {
	s := vm.activeStream()
	switch t {
	case mapRequestHeaders:
		if s != nil && (s.headersLive || s.logPhase) {
			return s.headers
		}
	case mapRequestTrailers:
		if s != nil && s.trailersLive && !s.logPhase {
			return s.trailers
		}
	case mapResponseHeaders:
		if s != nil && (s.respLive || s.logPhase && (s.local != nil || s.upResp != nil)) {
			return s.respHeaders
		}
	case mapCallResponseHeaders:
		return vm.callRespHdrs
	case mapCallResponseTrailer:
		return vm.callRespTrls
	}
	return nil
}

// mutableMap is Envoy's getMap: only live request/response maps can change. At the last body
// chunk the filter may add request trailers (Envoy's addDecodedTrailers).
func (vm *VM) mutableMap(t uint32) *headerMap {
	s := vm.activeStream()
	if s == nil || s.logPhase {
		return nil
	}
	switch t {
	case mapRequestHeaders:
		if s.headersLive {
			return s.headers
		}
	case mapRequestTrailers:
		if s.trailers == nil && s.chunkLive && s.eos && !s.trailersIn {
			s.trailers, s.trailersLive, s.trailersSeen = newHeaderMap(nil), true, true
		}
		if s.trailersLive {
			return s.trailers
		}
	case mapResponseHeaders:
		if s.respLive {
			return s.respHeaders
		}
	}
	return nil
}

func getHeaderMapValue(c *hostCall) uint32 {
	t := c.u32(0)
	if t > mapMax {
		return statusBadArgument
	}
	key, ok := c.readString(c.u32(1), c.u32(2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	m := c.vm.constMap(t)
	if m == nil {
		if s := c.vm.activeStream(); s != nil && s.logPhase {
			return statusNotFound
		}
		return statusBadArgument
	}
	v, found := m.get(key)
	if !found {
		return statusNotFound
	}
	return c.out([]byte(v), c.u32(3), c.u32(4))
}

func getHeaderMapPairs(c *hostCall) uint32 {
	t := c.u32(0)
	if t > mapMax {
		return statusBadArgument
	}
	m := c.vm.constMap(t)
	if m.len() == 0 {
		return c.out(nil, c.u32(1), c.u32(2)) // Envoy returns an empty buffer, not a 0-count map
	}
	return c.out(encodePairs(m.kv), c.u32(1), c.u32(2))
}

func setHeaderMapPairs(c *hostCall) uint32 {
	t := c.u32(0)
	if t > mapMax {
		return statusBadArgument
	}
	data, ok := c.read(c.u32(1), c.u32(2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	m := c.vm.mutableMap(t)
	if m == nil {
		return statusBadArgument
	}
	pairs, _ := decodePairs(data) // malformed reads as empty, as in cpp-host
	m.setAll(pairs)
	return statusOK
}

func modifyHeader(op func(m *headerMap, k, v string), withValue bool) func(c *hostCall) uint32 {
	return func(c *hostCall) uint32 {
		t := c.u32(0)
		if t > mapMax {
			return statusBadArgument
		}
		key, ok := c.readString(c.u32(1), c.u32(2))
		if !ok {
			return statusInvalidMemoryAccess
		}
		var val string
		if withValue {
			if val, ok = c.readString(c.u32(3), c.u32(4)); !ok {
				return statusInvalidMemoryAccess
			}
		}
		m := c.vm.mutableMap(t)
		if m == nil {
			return statusBadArgument
		}
		op(m, key, val)
		return statusOK
	}
}

func getHeaderMapSize(c *hostCall) uint32 {
	t := c.u32(0)
	if t > mapMax {
		return statusBadArgument
	}
	m := c.vm.mutableMap(t)
	if m == nil {
		return statusBadArgument
	}
	if !c.putU32(c.u32(1), size32(m.byteSize())) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// buffer returns the bytes of a buffer type for the active context. found=false is Envoy's
// getBuffer returning nullptr (NotFound); a nil slice with found=true is an empty buffer.
// mutable points at the bytes proxy_set_buffer_bytes may change.
func (vm *VM) buffer(t uint32) (data []byte, mutable *[]byte, found bool) {
	s := vm.activeStream()
	switch t {
	case bufRequestBody:
		if s != nil && s.buffering {
			// The filter stopped with StopIterationAndBuffer: everything buffered so far is
			// visible, from any callback, until it continues.
			return s.buffered, &s.buffered, true
		}
		if s != nil && s.chunkLive {
			return s.chunk, &s.chunk, true
		}
		return nil, nil, true
	case bufResponseBody:
		if s != nil && s.respBodyLive {
			return s.respBody, &s.respBody, true
		}
		return nil, nil, true
	case bufCallResponseBody:
		if vm.callResp == nil {
			return nil, nil, false
		}
		return vm.callResp.Body, nil, true
	case bufVMConfig:
		return vm.cfg.VMConfig, nil, true
	case bufPluginConfig:
		if !vm.pluginCfgVisible {
			return nil, nil, false // Envoy only has it while the plugin starts
		}
		return vm.cfg.PluginConfig, nil, true
	}
	return nil, nil, true // network, gRPC and call-data buffers: empty here
}

func getBufferBytes(c *hostCall) uint32 {
	t, start, length := c.u32(0), uint64(c.u32(1)), uint64(c.u32(2))
	if t > bufMax {
		return statusBadArgument
	}
	data, _, found := c.vm.buffer(t)
	if !found {
		return statusNotFound
	}
	size := uint64(len(data))
	if start > size {
		length = 0
	} else if start+length > size {
		length = size - start
	}
	if length == 0 {
		return c.out(nil, c.u32(3), c.u32(4))
	}
	return c.out(data[start:start+length], c.u32(3), c.u32(4))
}

func getBufferStatus(c *hostCall) uint32 {
	t := c.u32(0)
	if t > bufMax {
		return statusBadArgument
	}
	data, _, found := c.vm.buffer(t)
	if !found {
		return statusNotFound
	}
	if !c.putU32(c.u32(1), size32(len(data))) || !c.putU32(c.u32(2), 0) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// setBufferBytes follows Envoy's Buffer::copyFrom: start 0 with size 0 prepends, start 0 with
// size >= length replaces everything, start >= length appends; anything else is BadArgument.
func setBufferBytes(c *hostCall) uint32 {
	t, start, length := c.u32(0), c.u32(1), c.u32(2)
	if t > bufMax {
		return statusBadArgument
	}
	_, mutable, found := c.vm.buffer(t)
	if !found {
		return statusNotFound
	}
	data, ok := c.read(c.u32(3), c.u32(4))
	if !ok {
		return statusInvalidMemoryAccess
	}
	if mutable == nil {
		return statusBadArgument
	}
	cur := *mutable
	switch {
	case start == 0 && length == 0:
		*mutable = append(data, cur...)
	case start == 0 && int(length) >= len(cur):
		*mutable = data
	case int(start) >= len(cur):
		*mutable = append(cur, data...)
	default:
		return statusBadArgument
	}
	return statusOK
}

func sendLocalResponse(c *hostCall) uint32 {
	status := c.u32(0)
	details, ok1 := c.readString(c.u32(1), c.u32(2))
	body, ok2 := c.read(c.u32(3), c.u32(4))
	hdrs, ok3 := c.read(c.u32(5), c.u32(6))
	if !ok1 || !ok2 || !ok3 {
		return statusInvalidMemoryAccess
	}
	pairs, _ := decodePairs(hdrs)
	pairs = lowerPairs(pairs)
	// Envoy stops the current iteration right away, and sends the reply once the callback
	// returns. Response code details may not contain whitespace: Envoy replaces it with '_'.
	c.vm.stopNext = true
	if s := c.vm.activeStream(); s != nil {
		details = strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return '_'
			}
			return r
		}, details)
		c.vm.deferAfter(func(ctx context.Context) { s.sendLocal(ctx, status, body, pairs, details) })
	}
	return statusOK
}

func continueStream(c *hostCall) uint32 {
	t := c.u32(0)
	s := c.vm.activeStream()
	switch t {
	case streamRequest, streamResponse:
		if s != nil {
			if t == streamRequest {
				c.vm.deferAfter(s.continueRequest)
			} else {
				c.vm.deferAfter(s.continueResponse)
			}
			// Envoy forgets the request maps at once; the filter cannot touch them any more.
			s.headersLive, s.chunkLive, s.trailersLive = false, false, false
		}
		return statusOK
	case streamDownstream:
		return statusOK
	case streamUpstream:
		return statusUnimplemented
	}
	return statusBadArgument
}

func closeStream(c *hostCall) uint32 {
	t := c.u32(0)
	if t > streamUpstream {
		return statusBadArgument
	}
	if s := c.vm.activeStream(); s != nil && t <= streamResponse {
		c.vm.deferAfter(func(context.Context) {
			if s.local == nil {
				s.reset = true
			}
		})
	}
	return statusOK
}

// httpCall is proxy_http_call. Envoy makes the call on the root context and answers
// BadArgument for an unknown cluster, a negative timeout, or headers missing :method, :path or
// :authority. The response is delivered later (never inside this call).
func httpCall(c *hostCall) uint32 {
	cluster, ok1 := c.readString(c.u32(0), c.u32(1))
	hdrs, ok2 := c.read(c.u32(2), c.u32(3))
	body, ok3 := c.read(c.u32(4), c.u32(5))
	trls, ok4 := c.read(c.u32(6), c.u32(7))
	timeout, tokenPtr := api.DecodeI32(c.stack[8]), c.u32(9)
	if !ok1 || !ok2 || !ok3 || !ok4 || !c.putU32(tokenPtr, 0) {
		return statusInvalidMemoryAccess
	}
	vm := c.vm
	if timeout < 0 {
		return statusBadArgument
	}
	target, ok := vm.cfg.Clusters[cluster]
	if !ok || target == nil {
		return statusBadArgument
	}
	headers, _ := decodePairs(hdrs)
	headers = lowerPairs(headers)
	for _, k := range []string{":method", ":path", ":authority"} {
		if _, ok := firstValue(headers, k); !ok {
			return statusBadArgument
		}
	}
	if len(body) > 0 {
		hm := newHeaderMap(headers)
		hm.replace("content-length", strconv.Itoa(len(body)))
		headers = hm.pairs()
	}
	trailers, _ := decodePairs(trls)
	vm.nextToken++
	if vm.nextToken == 0 {
		vm.nextToken++
	}
	co := &callout{token: vm.nextToken, cluster: target, stream: vm.activeStream()}
	co.rec = CalloutRecord{Cluster: cluster, Token: co.token, Request: CalloutRequest{
		Headers: headers, Body: body, Trailers: lowerPairs(trailers),
		Timeout: time.Duration(timeout) * time.Millisecond,
	}}
	if co.stream != nil {
		co.stream.callouts++
	}
	vm.pending[co.token] = co
	vm.startCallout(co)
	if !c.putU32(tokenPtr, co.token) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

var httpHostFuncs = map[string]hostFunc{
	"proxy_get_header_map_value":     {i32s(5), getHeaderMapValue},
	"proxy_get_header_map_pairs":     {i32s(3), getHeaderMapPairs},
	"proxy_set_header_map_pairs":     {i32s(3), setHeaderMapPairs},
	"proxy_add_header_map_value":     {i32s(5), modifyHeader((*headerMap).add, true)},
	"proxy_replace_header_map_value": {i32s(5), modifyHeader((*headerMap).replace, true)},
	"proxy_remove_header_map_value":  {i32s(3), modifyHeader(func(m *headerMap, k, _ string) { m.remove(k) }, false)},
	"proxy_get_header_map_size":      {i32s(2), getHeaderMapSize},
	"proxy_get_buffer_bytes":         {i32s(5), getBufferBytes},
	"proxy_get_buffer_status":        {i32s(3), getBufferStatus},
	"proxy_set_buffer_bytes":         {i32s(5), setBufferBytes},
	"proxy_send_local_response":      {i32s(8), sendLocalResponse},
	"proxy_continue_stream":          {i32s(1), continueStream},
	"proxy_close_stream":             {i32s(1), closeStream},
	"proxy_http_call":                {i32s(10), httpCall},
	"proxy_clear_route_cache":        {nil, func(*hostCall) uint32 { return statusOK }},
}
