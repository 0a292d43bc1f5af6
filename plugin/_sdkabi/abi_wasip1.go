//go:build wasip1 && !tinygo

// This file is compiled into the proxy-wasm-go-sdk's internal package at build time (see
// build.sh). The SDK binds the proxy-wasm ABI only under TinyGo; with the stock Go toolchain it
// routes every host call through its ProxyWasmHost interface (abi_hostcalls_mock.go, for its
// proxytest) and exports no callbacks. This file supplies both halves: the host calls as plain
// functions on the imports, with the ABI's 32-bit types, and the proxy_on_* exports; build.sh
// removes the interface's file from the copy. It must compile at the SDK's language version
// (go 1.19).
//
// Only the callbacks our HTTP filters implement are exported. Envoy skips a callback a module
// does not export (proxy-wasm-cpp-host checks each one before calling it), and every callback
// it does call is a VM entry: exporting proxy_on_log, proxy_on_done and proxy_on_response_body
// cost three entries per request on traffic the filter only lets through. A filter that needs
// another callback adds its export here and to wasmcheck.Exports.

package internal

import (
	"math"
	"unsafe"
)

// pinned keeps every buffer handed out by proxy_on_memory_allocate reachable until the host
// call that asked for it has returned and the guest holds the pointer. The host owns that
// memory only as an integer, which the Go GC cannot see; a host call that allocates twice
// (headers then values, say) could otherwise get the first buffer collected and reused.
var pinned [][]byte

//go:wasmexport proxy_on_memory_allocate
func wasmOnMemoryAllocate(size uint32) unsafe.Pointer {
	if size == 0 {
		size = 1 // &buf[0] must exist; the host may ask for empty buffers.
	}
	buf := make([]byte, size)
	pinned = append(pinned, buf)
	return unsafe.Pointer(&buf[0]) //nolint:gosec // G103: the ABI returns guest memory as a pointer; pinned keeps it alive
}

// unpin drops the pins once a returning host call has handed its buffers to the guest.
func unpin() {
	for i := range pinned {
		pinned[i] = nil
	}
	pinned = pinned[:0]
}

// buffer finds the buffer at an address the host wrote into a 32-bit slot. The host returns
// only memory it got from proxy_on_memory_allocate during this call, so the buffer is among
// the pinned ones; looking it up there, rather than turning the integer into a pointer, keeps
// the GC's view exact and refuses an address or size the guest never handed out.
func buffer(addr, size uint32) (*byte, bool) {
	if addr == 0 {
		return nil, size == 0
	}
	for _, buf := range pinned {
		if uintptr(unsafe.Pointer(&buf[0])) == uintptr(addr) { //nolint:gosec // G103: compares addresses, never makes a pointer of one
			return &buf[0], uint64(size) <= uint64(len(buf))
		}
	}
	return nil, false
}

// u32 narrows a length or offset to the ABI's i32. Guest memory is 32-bit, so a real length
// always fits; a caller's nonsense value is clamped, never wrapped.
func u32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

//go:wasmexport proxy_abi_version_0_2_0
func wasmABIVersion() {}

//go:wasmexport proxy_on_vm_start
func wasmOnVMStart(rootID, size uint32) uint32 {
	return b2u(bool(proxyOnVMStart(rootID, int(size))))
}

//go:wasmexport proxy_on_configure
func wasmOnConfigure(rootID, size uint32) uint32 {
	return b2u(bool(proxyOnConfigure(rootID, int(size))))
}

//go:wasmexport proxy_on_context_create
func wasmOnContextCreate(contextID, parentID uint32) { proxyOnContextCreate(contextID, parentID) }

//go:wasmexport proxy_on_request_headers
func wasmOnRequestHeaders(contextID, n, eos uint32) uint32 {
	return uint32(proxyOnRequestHeaders(contextID, int(n), eos != 0))
}

//go:wasmexport proxy_on_request_body
func wasmOnRequestBody(contextID, size, eos uint32) uint32 {
	return uint32(proxyOnRequestBody(contextID, int(size), eos != 0))
}

//go:wasmexport proxy_on_request_trailers
func wasmOnRequestTrailers(contextID, n uint32) uint32 {
	return uint32(proxyOnRequestTrailers(contextID, int(n)))
}

//go:wasmexport proxy_on_response_headers
func wasmOnResponseHeaders(contextID, n, eos uint32) uint32 {
	return uint32(proxyOnResponseHeaders(contextID, int(n), eos != 0))
}

//go:wasmexport proxy_on_http_call_response
func wasmOnHTTPCallResponse(rootID, calloutID, headers, bodySize, trailers uint32) {
	proxyOnHttpCallResponse(rootID, calloutID, int(headers), int(bodySize), int(trailers))
}

// proxy_on_delete first runs the SDK's OnHttpStreamDone, which the SDK runs from proxy_on_log
// (not exported here): a filter learns that its stream is gone without another VM entry per
// request. proxyOnLog does nothing for a context that is not a stream.
//
//go:wasmexport proxy_on_delete
func wasmOnDelete(contextID uint32) {
	proxyOnLog(contextID)
	proxyOnDelete(contextID)
}

// Host imports. Every size and address is an i32 in the ABI; Go's int and pointers are 64-bit
// on wasm, so the out-parameters are *uint32 slots and are widened on the Go side.

//go:wasmimport env proxy_log
func hostLog(level uint32, msg *byte, msgLen uint32) uint32

//go:wasmimport env proxy_set_property
func hostSetProperty(path *byte, pathLen uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_get_property
func hostGetProperty(path *byte, pathLen uint32, retData, retLen *uint32) uint32

//go:wasmimport env proxy_send_local_response
func hostSendLocalResponse(status uint32, details *byte, detailsLen uint32, body *byte, bodyLen uint32,
	headers *byte, headersLen uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_get_shared_data
func hostGetSharedData(key *byte, keyLen uint32, retData, retLen, retCas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func hostSetSharedData(key *byte, keyLen uint32, val *byte, valLen uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func hostRegisterSharedQueue(name *byte, nameLen uint32, retID *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func hostResolveSharedQueue(vmID *byte, vmIDLen uint32, name *byte, nameLen uint32, retID *uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func hostDequeueSharedQueue(queueID uint32, retData, retLen *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func hostEnqueueSharedQueue(queueID uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func hostGetHeaderMapValue(mapType uint32, key *byte, keyLen uint32, retData, retLen *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func hostAddHeaderMapValue(mapType uint32, key *byte, keyLen uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func hostReplaceHeaderMapValue(mapType uint32, key *byte, keyLen uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func hostRemoveHeaderMapValue(mapType uint32, key *byte, keyLen uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func hostGetHeaderMapPairs(mapType uint32, retData, retLen *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func hostSetHeaderMapPairs(mapType uint32, data *byte, dataLen uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func hostGetBufferBytes(bufType, start, maxSize uint32, retData, retLen *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func hostSetBufferBytes(bufType, start, maxSize uint32, data *byte, dataLen uint32) uint32

//go:wasmimport env proxy_continue_stream
func hostContinueStream(streamType uint32) uint32

//go:wasmimport env proxy_close_stream
func hostCloseStream(streamType uint32) uint32

//go:wasmimport env proxy_http_call
func hostHTTPCall(upstream *byte, upstreamLen uint32, headers *byte, headersLen uint32, body *byte, bodyLen uint32,
	trailers *byte, trailersLen uint32, timeout uint32, retID *uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func hostCallForeignFunction(name *byte, nameLen uint32, param *byte, paramLen uint32, retData, retLen *uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func hostSetTickPeriod(period uint32) uint32

//go:wasmimport env proxy_set_effective_context
func hostSetEffectiveContext(contextID uint32) uint32

//go:wasmimport env proxy_done
func hostDone() uint32

//go:wasmimport env proxy_define_metric
func hostDefineMetric(metricType uint32, name *byte, nameLen uint32, retID *uint32) uint32

//go:wasmimport env proxy_increment_metric
func hostIncrementMetric(metricID uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func hostRecordMetric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func hostGetMetric(metricID uint32, ret *uint64) uint32

// The host writes a call's results (an address, a size, a CAS token, an id) into guest memory
// at addresses the guest passes. A Go local whose address is passed to an import escapes to
// the heap: two or three allocations for every call that returns something. Its place on the
// stack would be unsafe: the host may call proxy_on_memory_allocate before it writes, and that
// Go code can grow, and so move, the stack. Package variables never move, and a VM makes one
// host call at a time: the only re-entry during these calls is proxy_on_memory_allocate,
// which makes none. proxy_http_call keeps the caller's own slot for its id: a host may run
// the callback of a call that fails at once inside it, and that callback makes host calls.
var (
	outData, outSize, outID, outCas uint32
	outMetric                       uint64
)

// out stores the buffer a call returned in outData and outSize into the SDK's
// out-parameters, and releases the pins.
func out(st uint32, retData **byte, retSize *int) Status {
	defer unpin()
	if Status(st) != StatusOK {
		return Status(st)
	}
	p, ok := buffer(outData, outSize)
	if !ok {
		return StatusInternalFailure
	}
	*retData, *retSize = p, int(outSize)
	return StatusOK
}

func ProxyLog(level LogLevel, msg *byte, n int) Status {
	return Status(hostLog(uint32(level), msg, u32(n)))
}

func ProxySetProperty(path *byte, pathLen int, val *byte, valLen int) Status {
	return Status(hostSetProperty(path, u32(pathLen), val, u32(valLen)))
}

func ProxyGetProperty(path *byte, pathLen int, retData **byte, retSize *int) Status {
	return out(hostGetProperty(path, u32(pathLen), &outData, &outSize), retData, retSize)
}

func ProxySendLocalResponse(status uint32, details *byte, detailsLen int, body *byte, bodyLen int,
	headers *byte, headersLen int, grpcStatus int32) Status {
	return Status(hostSendLocalResponse(status, details, u32(detailsLen), body, u32(bodyLen),
		headers, u32(headersLen), grpcStatus))
}

func ProxyGetSharedData(key *byte, keyLen int, retData **byte, retSize *int, retCas *uint32) Status {
	st := out(hostGetSharedData(key, u32(keyLen), &outData, &outSize, &outCas), retData, retSize)
	*retCas = outCas
	return st
}

func ProxySetSharedData(key *byte, keyLen int, val *byte, valLen int, cas uint32) Status {
	return Status(hostSetSharedData(key, u32(keyLen), val, u32(valLen), cas))
}

func ProxyRegisterSharedQueue(name *byte, nameLen int, retID *uint32) Status {
	st := Status(hostRegisterSharedQueue(name, u32(nameLen), &outID))
	*retID = outID
	return st
}

func ProxyResolveSharedQueue(vmID *byte, vmIDLen int, name *byte, nameLen int, retID *uint32) Status {
	st := Status(hostResolveSharedQueue(vmID, u32(vmIDLen), name, u32(nameLen), &outID))
	*retID = outID
	return st
}

func ProxyDequeueSharedQueue(queueID uint32, retData **byte, retSize *int) Status {
	return out(hostDequeueSharedQueue(queueID, &outData, &outSize), retData, retSize)
}

func ProxyEnqueueSharedQueue(queueID uint32, val *byte, valLen int) Status {
	return Status(hostEnqueueSharedQueue(queueID, val, u32(valLen)))
}

func ProxyGetHeaderMapValue(mt MapType, key *byte, keyLen int, retData **byte, retSize *int) Status {
	return out(hostGetHeaderMapValue(uint32(mt), key, u32(keyLen), &outData, &outSize), retData, retSize)
}

func ProxyAddHeaderMapValue(mt MapType, key *byte, keyLen int, val *byte, valLen int) Status {
	return Status(hostAddHeaderMapValue(uint32(mt), key, u32(keyLen), val, u32(valLen)))
}

func ProxyReplaceHeaderMapValue(mt MapType, key *byte, keyLen int, val *byte, valLen int) Status {
	return Status(hostReplaceHeaderMapValue(uint32(mt), key, u32(keyLen), val, u32(valLen)))
}

func ProxyContinueStream(st StreamType) Status {
	return Status(hostContinueStream(uint32(st)))
}

func ProxyCloseStream(st StreamType) Status {
	return Status(hostCloseStream(uint32(st)))
}

func ProxyRemoveHeaderMapValue(mt MapType, key *byte, keyLen int) Status {
	return Status(hostRemoveHeaderMapValue(uint32(mt), key, u32(keyLen)))
}

func ProxyGetHeaderMapPairs(mt MapType, retData **byte, retSize *int) Status {
	return out(hostGetHeaderMapPairs(uint32(mt), &outData, &outSize), retData, retSize)
}

func ProxySetHeaderMapPairs(mt MapType, data *byte, n int) Status {
	return Status(hostSetHeaderMapPairs(uint32(mt), data, u32(n)))
}

func ProxyGetBufferBytes(bt BufferType, start, maxSize int, retData **byte, retSize *int) Status {
	return out(hostGetBufferBytes(uint32(bt), u32(start), u32(maxSize), &outData, &outSize), retData, retSize)
}

func ProxySetBufferBytes(bt BufferType, start, maxSize int, data *byte, n int) Status {
	return Status(hostSetBufferBytes(uint32(bt), u32(start), u32(maxSize), data, u32(n)))
}

// ProxyHttpCall keeps the name the SDK calls it by.
func ProxyHttpCall(upstream *byte, upstreamLen int, headers *byte, headersLen int, body *byte,
	bodyLen int, trailers *byte, trailersLen int, timeout uint32, retID *uint32) Status {
	return Status(hostHTTPCall(upstream, u32(upstreamLen), headers, u32(headersLen), body, u32(bodyLen),
		trailers, u32(trailersLen), timeout, retID))
}

func ProxyCallForeignFunction(name *byte, nameLen int, param *byte, paramLen int, retData **byte, retSize *int) Status {
	return out(hostCallForeignFunction(name, u32(nameLen), param, u32(paramLen), &outData, &outSize), retData, retSize)
}

func ProxySetTickPeriodMilliseconds(period uint32) Status {
	return Status(hostSetTickPeriod(period))
}

func ProxySetEffectiveContext(contextID uint32) Status {
	return Status(hostSetEffectiveContext(contextID))
}

func ProxyDone() Status { return Status(hostDone()) }

func ProxyDefineMetric(mt MetricType, name *byte, nameLen int, retID *uint32) Status {
	st := Status(hostDefineMetric(uint32(mt), name, u32(nameLen), &outID))
	*retID = outID
	return st
}

func ProxyIncrementMetric(metricID uint32, offset int64) Status {
	return Status(hostIncrementMetric(metricID, offset))
}

func ProxyRecordMetric(metricID uint32, value uint64) Status {
	return Status(hostRecordMetric(metricID, value))
}

func ProxyGetMetric(metricID uint32, ret *uint64) Status {
	st := Status(hostGetMetric(metricID, &outMetric))
	*ret = outMetric
	return st
}
