// Command probe is a test guest for the wasmhost package. It talks to the host through raw
// proxy-wasm imports (no SDK), so a test controls exactly which calls are made, and it logs what
// the host showed it so tests can assert on the host's behaviour. The plugin configuration is a
// URL query string selecting behaviours; see the keys read in onConfigure.
package main

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

//go:wasmimport env proxy_log
func hostLog(level uint32, msg *byte, size uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func hostGetBuffer(t, start, max uint32, ptr, size *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func hostSetBuffer(t, start, size uint32, data *byte, dataLen uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func hostGetHeader(t uint32, key *byte, keyLen uint32, ptr, size *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func hostGetPairs(t uint32, ptr, size *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func hostAddHeader(t uint32, key *byte, keyLen uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func hostReplaceHeader(t uint32, key *byte, keyLen uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func hostRemoveHeader(t uint32, key *byte, keyLen uint32) uint32

//go:wasmimport env proxy_send_local_response
func hostLocal(status uint32, details *byte, detailsLen uint32, body *byte, bodyLen uint32, hdrs *byte, hdrsLen uint32, grpc int32) uint32

//go:wasmimport env proxy_http_call
func hostHTTPCall(up *byte, upLen uint32, hdrs *byte, hdrsLen uint32, body *byte, bodyLen uint32, trl *byte, trlLen uint32, timeout uint32, token *uint32) uint32

//go:wasmimport env proxy_continue_stream
func hostContinue(t uint32) uint32

//go:wasmimport env proxy_get_property
func hostGetProperty(path *byte, pathLen uint32, ptr, size *uint32) uint32

//go:wasmimport env proxy_set_property
func hostSetProperty(path *byte, pathLen uint32, val *byte, valLen uint32) uint32

//go:wasmimport env proxy_get_shared_data
func hostGetShared(key *byte, keyLen uint32, ptr, size, cas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func hostSetShared(key *byte, keyLen uint32, val *byte, valLen uint32, cas uint32) uint32

//go:wasmimport env proxy_define_metric
func hostDefineMetric(t uint32, name *byte, nameLen uint32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func hostIncrement(id uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func hostRecord(id uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func hostGetMetric(id uint32, value *uint64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func hostSetTick(ms uint32) uint32

//go:wasmimport env proxy_set_effective_context
func hostSetEffective(id uint32) uint32

//go:wasmimport env proxy_done
func hostDone() uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func hostNow(ns *uint64) uint32

//go:wasmimport wasi_snapshot_preview1 sched_yield
func sched_yield() uint32

// Buffers handed to the host by proxy_on_memory_allocate stay reachable until the next
// callback starts: the host only knows them as integers.
var pinned [][]byte

//go:wasmexport proxy_on_memory_allocate
func onAlloc(size uint32) unsafe.Pointer {
	b := make([]byte, size+1)
	pinned = append(pinned, b)
	return unsafe.Pointer(&b[0])
}

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

func ptr(s string) *byte { return unsafe.StringData(s) }

func bptr(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

func logf(level uint32, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	hostLog(level, ptr(s), uint32(len(s)))
}

func returned(p, n uint32) string {
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n))
}

func header(t uint32, key string) (string, uint32) {
	var p, n uint32
	st := hostGetHeader(t, ptr(key), uint32(len(key)), &p, &n)
	return returned(p, n), st
}

func buffer(t, start, max uint32) (string, uint32) {
	var p, n uint32
	st := hostGetBuffer(t, start, max, &p, &n)
	return returned(p, n), st
}

func pairs(t uint32) ([][2]string, uint32) {
	var p, n uint32
	st := hostGetPairs(t, &p, &n)
	b := []byte(returned(p, n))
	if len(b) < 4 {
		return nil, st
	}
	cnt := int(binary.LittleEndian.Uint32(b))
	out := make([][2]string, cnt)
	pos := 4 + 8*cnt
	for i := range out {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		out[i][0] = string(b[pos : pos+kl])
		pos += kl + 1
		out[i][1] = string(b[pos : pos+vl])
		pos += vl + 1
	}
	return out, st
}

func serialize(ps [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(ps)))
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range ps {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

func property(path ...string) (string, uint32) {
	s := strings.Join(path, "\x00")
	var p, n uint32
	st := hostGetProperty(ptr(s), uint32(len(s)), &p, &n)
	return returned(p, n), st
}

var (
	cfg                                    url.Values
	mRequests, mBytes, mSizes, mTicks      uint32
	rootID                                 uint32
	streams                                = map[uint32]*stream{}
	callouts                               = map[uint32]uint32{} // token -> stream context
	doneDeferred                           bool
	headersAct, bodyAct, eosAct, trailsAct uint32
)

type stream struct {
	id     uint32
	chunks int
	total  int
}

func atoi(key string, def int) int {
	if v := cfg.Get(key); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

func init() {
	// Imports called from here run inside _initialize, where Envoy restricts them.
	switch os.Getenv("PROBE_INIT") {
	case "define_metric":
		var id uint32
		hostDefineMetric(0, ptr("early"), 5, &id)
	case "sched_yield":
		sched_yield()
	case "log":
		logf(2, "hello from init")
	}
}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	pinned = pinned[:0]
	if parent == 0 {
		rootID = id
		return
	}
	streams[id] = &stream{id: id}
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 {
	pinned = pinned[:0]
	vmc, _ := buffer(6, 0, size)
	logf(2, "vm_start size=%d config=%q", size, vmc)
	if strings.Contains(vmc, "fail") {
		return 0
	}
	return 1
}

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	pinned = pinned[:0]
	raw, st := buffer(7, 0, size)
	var err error
	cfg, err = url.ParseQuery(raw)
	if st != 0 || err != nil {
		logf(5, "probe: bad configuration (status %d): %v", st, err)
		return 0
	}
	if msg := cfg.Get("configure_fail"); msg != "" {
		logf(4, "an earlier error")
		logf(5, "probe: %s", msg)
		return 0
	}
	headersAct, bodyAct = uint32(atoi("headers", 0)), uint32(atoi("body", 0))
	eosAct, trailsAct = uint32(atoi("body_eos", 0)), uint32(atoi("trailers", 0))
	for name, id := range map[string]*uint32{"probe.requests": &mRequests, "probe.ticks": &mTicks} {
		hostDefineMetric(0, ptr(name), uint32(len(name)), id)
	}
	hostDefineMetric(1, ptr("probe.bytes"), 11, &mBytes)
	hostDefineMetric(2, ptr("probe.sizes"), 11, &mSizes)
	if ms := atoi("tick_ms", 0); ms > 0 {
		hostSetTick(uint32(ms))
	}
	if cfg.Has("set_property") {
		logf(2, "root set_property status=%d", setProperty())
	}
	_, later := buffer(7, 0, size)
	logf(2, "configured root=%d plugin_config_after_read=%d", root, later)
	return 1
}

func localReply(where string) {
	status := atoi("local_status", 403)
	body := "probe local " + where
	hdrs := serialize([][2]string{{"X-Probe", "local"}})
	d := "probe said no"
	hostLocal(uint32(status), ptr(d), uint32(len(d)), ptr(body), uint32(len(body)), bptr(hdrs), uint32(len(hdrs)), -1)
}

func headerOps() {
	for _, op := range strings.Split(cfg.Get("hdr_ops"), ",") {
		f := strings.SplitN(op, ":", 3)
		switch {
		case f[0] == "add" && len(f) == 3:
			hostAddHeader(0, ptr(f[1]), uint32(len(f[1])), ptr(f[2]), uint32(len(f[2])))
		case f[0] == "replace" && len(f) == 3:
			hostReplaceHeader(0, ptr(f[1]), uint32(len(f[1])), ptr(f[2]), uint32(len(f[2])))
		case f[0] == "remove" && len(f) >= 2:
			hostRemoveHeader(0, ptr(f[1]), uint32(len(f[1])))
		}
	}
}

func callout(ctx uint32) {
	cluster := cfg.Get("callout_cluster")
	var hs [][2]string
	for _, h := range cfg["ch"] {
		k, v, _ := strings.Cut(h, "|")
		hs = append(hs, [2]string{k, v})
	}
	hb := serialize(hs)
	tb := serialize(nil)
	body := cfg.Get("callout_body")
	var token uint32
	st := hostHTTPCall(ptr(cluster), uint32(len(cluster)), bptr(hb), uint32(len(hb)), ptr(body), uint32(len(body)),
		bptr(tb), uint32(len(tb)), uint32(atoi("callout_timeout", 1000)), &token)
	logf(2, "http_call status=%d token=%d", st, token)
	if st != 0 {
		msg := fmt.Sprintf("http_call=%d", st)
		hostLocal(500, nil, 0, ptr(msg), uint32(len(msg)), nil, 0, -1)
		return
	}
	callouts[token] = ctx
}

// setProperty sets the property set_property=name=value names; a dotted name is a path.
func setProperty() uint32 {
	name, val, _ := strings.Cut(cfg.Get("set_property"), "=")
	path := strings.ReplaceAll(name, ".", "\x00")
	return hostSetProperty(ptr(path), uint32(len(path)), ptr(val), uint32(len(val)))
}

func shared() {
	key := cfg.Get("shared_key")
	if key == "" {
		return
	}
	for tries := 1; ; tries++ {
		var p, n, cas uint32
		st := hostGetShared(ptr(key), uint32(len(key)), &p, &n, &cas)
		count := 0
		if st == 0 {
			count, _ = strconv.Atoi(returned(p, n))
		}
		for i := 0; i < atoi("shared_spin", 0); i++ {
			var ns uint64
			hostNow(&ns)
		}
		v := strconv.Itoa(count + 1)
		if hostSetShared(ptr(key), uint32(len(key)), ptr(v), uint32(len(v)), cas) == 0 {
			if tries > 1 {
				logf(1, "cas retries=%d", tries-1)
			}
			return
		}
	}
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(ctx, n, eos uint32) uint32 {
	pinned = pinned[:0]
	s := streams[ctx]
	hostIncrement(mRequests, 1)
	var reqs uint64
	hostGetMetric(mRequests, &reqs)
	src, _ := property("source", "address")
	rid, _ := property("plugin_root_id")
	path, _ := header(0, ":path")
	logf(2, "headers ctx=%d n=%d eos=%d path=%s source=%s root_id=%s requests=%d", s.id, n, eos, path, src, rid, reqs)
	if h := cfg.Get("panic_header"); h != "" {
		if _, st := header(0, h); st == 0 {
			panic("probe panics on request")
		}
	}
	shared()
	if cfg.Has("set_property") {
		st := setProperty()
		name, _, _ := strings.Cut(cfg.Get("set_property"), "=")
		got, gst := property(strings.Split(name, ".")...)
		src, _ := property("source", "address")
		logf(2, "set_property status=%d get=%q get_status=%d source=%s", st, got, gst, src)
	}
	if cfg.Get("local") == "headers" {
		localReply("headers")
	}
	if cfg.Get("callout_at") == "headers" {
		callout(ctx)
	}
	if eos == 1 && cfg.Get("hdr_at") == "headers" {
		headerOps()
	}
	return headersAct
}

//go:wasmexport proxy_on_request_body
func onRequestBody(ctx, size, eos uint32) uint32 {
	pinned = pinned[:0]
	s := streams[ctx]
	all, st := buffer(0, 0, size)
	_, hst := header(0, ":path")
	logf(2, "body chunk=%d size=%d eos=%d got=%q status=%d headers_status=%d", s.chunks, size, eos, all, st, hst)
	s.total = int(size)
	if cfg.Get("local") == "body"+strconv.Itoa(s.chunks) {
		localReply("body" + strconv.Itoa(s.chunks))
	}
	s.chunks++
	if eos == 0 {
		return bodyAct
	}
	hostRecord(mBytes, uint64(size))
	hostRecord(mSizes, uint64(size))
	if nb := cfg.Get("set_body"); nb != "" {
		st := hostSetBuffer(0, 0, size, ptr(nb), uint32(len(nb)))
		logf(2, "set_body status=%d", st)
	}
	if v := cfg.Get("append_body"); v != "" {
		hostSetBuffer(0, size, 0, ptr(v), uint32(len(v)))
	}
	if cfg.Get("hdr_at") == "eos" {
		headerOps()
	}
	if cfg.Get("local") == "eos" {
		localReply("eos")
	}
	if cfg.Get("callout_at") == "eos" {
		callout(ctx)
	}
	return eosAct
}

//go:wasmexport proxy_on_request_trailers
func onRequestTrailers(ctx, n uint32) uint32 {
	pinned = pinned[:0]
	v, st := header(1, "x-trailer")
	logf(2, "trailers n=%d x-trailer=%s status=%d", n, v, st)
	return trailsAct
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(ctx, n, eos uint32) uint32 {
	pinned = pinned[:0]
	st, _ := header(2, ":status")
	ps, _ := pairs(2)
	logf(2, "response_headers n=%d eos=%d status=%s pairs=%d", n, eos, st, len(ps))
	hostAddHeader(2, ptr("x-probe-response"), 16, ptr("seen"), 4)
	return 0
}

//go:wasmexport proxy_on_response_body
func onResponseBody(ctx, size, eos uint32) uint32 {
	pinned = pinned[:0]
	b, _ := buffer(1, 0, size)
	logf(2, "response_body size=%d eos=%d body=%q", size, eos, b)
	return 0
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(root, token, nh, nb, nt uint32) {
	pinned = pinned[:0]
	ctx, ok := callouts[token]
	delete(callouts, token)
	status, sst := header(6, ":status")
	body, _ := buffer(4, 0, nb)
	ps, _ := pairs(6)
	_, before := header(0, ":path")
	eff := hostSetEffective(ctx)
	_, after := header(0, ":path")
	bogus := hostSetEffective(999)
	logf(2, "callout_response root=%d token=%d known=%v nh=%d nb=%d nt=%d status=%s/%d pairs=%d body=%q path_before=%d effective=%d path_after=%d bogus=%d",
		root, token, ok, nh, nb, nt, status, sst, len(ps), body, before, eff, after, bogus)
	if !ok || streams[ctx] == nil {
		return
	}
	if cfg.Get("hdr_at") == "callout" {
		headerOps()
	}
	if nb := cfg.Get("callout_set_body"); nb != "" {
		all, _ := buffer(0, 0, 1<<20)
		st := hostSetBuffer(0, 0, uint32(len(all)), ptr(nb), uint32(len(nb)))
		logf(2, "callout_set_body had=%q status=%d", all, st)
	}
	if cfg.Get("local") == "callout" || cfg.Get("callout_then") == "" {
		if sst != 0 {
			status = "none"
		}
		msg := fmt.Sprintf("status=%s headers=%d body=%s", status, nh, body)
		hostLocal(200, nil, 0, ptr(msg), uint32(len(msg)), nil, 0, -1)
		return
	}
	if cfg.Get("callout_then") == "continue" {
		logf(2, "continue=%d", hostContinue(0))
	}
}

//go:wasmexport proxy_on_tick
func onTick(root uint32) {
	pinned = pinned[:0]
	hostIncrement(mTicks, 1)
	if doneDeferred {
		logf(2, "proxy_done=%d", hostDone())
		doneDeferred = false
	}
}

//go:wasmexport proxy_on_log
func onLog(ctx uint32) {
	pinned = pinned[:0]
	path, st := header(0, ":path")
	rs, rst := header(2, ":status")
	logf(2, "log ctx=%d path=%s/%d response=%s/%d", ctx, path, st, rs, rst)
}

//go:wasmexport proxy_on_done
func onDone(ctx uint32) uint32 {
	pinned = pinned[:0]
	if ctx == rootID {
		logf(2, "done root proxy_done_now=%d", hostDone())
		if cfg.Get("done_defer") != "" {
			doneDeferred = true
			return 0
		}
	}
	return 1
}

//go:wasmexport proxy_on_delete
func onDelete(ctx uint32) {
	pinned = pinned[:0]
	logf(2, "delete ctx=%d", ctx)
	delete(streams, ctx)
}

func main() {}
