package wasmhost

import (
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// hostFuncs is every env import this host provides. Queues, gRPC and the 0.1-only calls are
// deliberately absent: a module importing them fails Compile, naming them.
var hostFuncs = func() map[string]hostFunc {
	m := map[string]hostFunc{
		"proxy_log":                          {i32s(3), proxyLog},
		"proxy_get_property":                 {i32s(4), getProperty},
		"proxy_set_property":                 {i32s(4), setProperty},
		"proxy_get_shared_data":              {i32s(5), getSharedData},
		"proxy_set_shared_data":              {i32s(5), setSharedData},
		"proxy_define_metric":                {i32s(4), defineMetric},
		"proxy_increment_metric":             {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, incrementMetric},
		"proxy_record_metric":                {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, recordMetric},
		"proxy_get_metric":                   {i32s(2), getMetric},
		"proxy_get_current_time_nanoseconds": {i32s(1), currentTime},
		"proxy_set_tick_period_milliseconds": {i32s(1), setTickPeriod},
		"proxy_set_effective_context":        {i32s(1), setEffectiveContext},
		"proxy_done":                         {nil, proxyDone},
		"proxy_call_foreign_function":        {i32s(6), callForeignFunction},
	}
	for k, v := range httpHostFuncs {
		m[k] = v
	}
	return m
}()

func proxyLog(c *hostCall) uint32 {
	level := c.u32(0)
	if level > uint32(LogCritical) {
		return statusBadArgument
	}
	msg, ok := c.readString(c.u32(1), c.u32(2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	c.vm.addLog(LogLevel(level), msg)
	return statusOK
}

// property answers the subset of Envoy's attributes a filter typically reads. Strings come back
// as their bytes, integers as 8 little-endian bytes, maps as a serialized header map. Request
// and connection attributes exist only on a stream context; on the root, like Envoy (no stream
// info), they are NotFound.
func (vm *VM) property(path []string) ([]byte, bool) {
	key := strings.Join(path, ".")
	s := vm.activeStream()
	if v, ok := vm.attribute(s, key); ok {
		return v, true
	}
	// A name that is no attribute is read from the filter state, as Envoy does: what the
	// filter set there itself (a single name: Envoy's value is bytes, with no fields).
	if s != nil && len(path) == 1 {
		v, ok := s.filterState[filterStatePrefix+path[0]]
		return v, ok
	}
	return nil, false
}

// attribute is one of the Envoy attributes the host knows, by its dotted name.
func (vm *VM) attribute(s *Stream, key string) ([]byte, bool) {
	switch key {
	case "plugin_root_id":
		return []byte(vm.cfg.RootID), true
	case "plugin_name":
		return []byte(vm.cfg.PluginName), true
	case "plugin_vm_id":
		return []byte(vm.cfg.VMID), true
	}
	if s == nil {
		return nil, false
	}
	hdr := func(name string) ([]byte, bool) {
		v, ok := s.headers.get(name)
		return []byte(v), ok
	}
	switch key {
	case "source.address":
		return []byte(s.req.SourceAddress), true
	case "source.port":
		_, port, err := net.SplitHostPort(s.req.SourceAddress)
		n, err2 := strconv.ParseUint(port, 10, 16)
		if err != nil || err2 != nil {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, n), true
	case "request.path":
		return hdr(":path")
	case "request.url_path":
		p, _ := s.headers.get(":path")
		p, _, _ = strings.Cut(p, "?")
		return []byte(p), true
	case "request.host":
		return hdr(":authority")
	case "request.method":
		return hdr(":method")
	case "request.scheme":
		return hdr(":scheme")
	case "request.id":
		return hdr("x-request-id")
	case "request.useragent":
		return hdr("user-agent")
	case "request.protocol":
		return []byte("HTTP/1.1"), true
	case "request.headers":
		return encodePairs(s.headers.kv), true
	case "response.code":
		if s.local != nil {
			return binary.LittleEndian.AppendUint64(nil, uint64(s.local.Status)), true
		}
	case "response.code_details":
		if s.local != nil {
			return []byte(s.local.Details), true
		}
	}
	return nil, false
}

func getProperty(c *hostCall) uint32 {
	raw, ok := c.readString(c.u32(0), c.u32(1))
	if !ok {
		return statusInvalidMemoryAccess
	}
	v, found := c.vm.property(strings.Split(strings.TrimRight(raw, "\x00"), "\x00"))
	if !found {
		return statusNotFound
	}
	return c.out(v, c.u32(2), c.u32(3))
}

// filterStatePrefix is where Envoy keeps what set_property stores in a stream's filter state.
const filterStatePrefix = "wasm."

// setProperty stores a value in the stream's filter state, as Envoy does: under "wasm." and
// the path as the guest sent it (segments still NUL-separated), where an access log's
// %FILTER_STATE(wasm.<name>:PLAIN)% prints it; it never shadows an attribute. The root context
// has no stream info: NotFound.
func setProperty(c *hostCall) uint32 {
	path, ok1 := c.readString(c.u32(0), c.u32(1))
	val, ok2 := c.read(c.u32(2), c.u32(3))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	s := c.vm.activeStream()
	if s == nil {
		return statusNotFound
	}
	if s.filterState == nil {
		s.filterState = map[string][]byte{}
	}
	s.filterState[filterStatePrefix+path] = val
	return statusOK
}

func getSharedData(c *hostCall) uint32 {
	key, ok := c.readString(c.u32(0), c.u32(1))
	if !ok {
		return statusInvalidMemoryAccess
	}
	val, cas, found := c.vm.shared.Get(c.vm.cfg.VMID, key)
	if !found {
		return statusNotFound
	}
	if st := c.out(val, c.u32(2), c.u32(3)); st != statusOK {
		return st
	}
	if !c.putU32(c.u32(4), cas) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func setSharedData(c *hostCall) uint32 {
	key, ok1 := c.readString(c.u32(0), c.u32(1))
	val, ok2 := c.read(c.u32(2), c.u32(3))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	if err := c.vm.shared.Set(c.vm.cfg.VMID, key, val, c.u32(4)); err != nil {
		return statusCasMismatch
	}
	return statusOK
}

func defineMetric(c *hostCall) uint32 {
	name, ok := c.readString(c.u32(1), c.u32(2))
	if !ok {
		return statusInvalidMemoryAccess
	}
	id, st := c.vm.defineMetric(MetricType(c.u32(0)), name)
	if st != statusOK {
		return st
	}
	if !c.putU32(c.u32(3), id) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func incrementMetric(c *hostCall) uint32 {
	return c.vm.incrementMetric(c.u32(0), int64(c.stack[1])) //nolint:gosec // G115: an i64 argument arrives as raw bits; this reads them as the ABI's signed offset
}

func recordMetric(c *hostCall) uint32 { return c.vm.recordMetric(c.u32(0), c.stack[1]) }

func getMetric(c *hostCall) uint32 {
	v, st := c.vm.getMetric(c.u32(0))
	if st != statusOK {
		return st
	}
	if !c.putU64(c.u32(1), v) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func currentTime(c *hostCall) uint32 {
	if !c.putU64(c.u32(0), uint64(time.Now().UnixNano())) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// setTickPeriod always applies to the root context, whichever context asks.
func setTickPeriod(c *hostCall) uint32 {
	c.vm.setTickPeriod(time.Duration(c.u32(0)) * time.Millisecond)
	return statusOK
}

func setEffectiveContext(c *hostCall) uint32 {
	id := c.u32(0)
	if _, ok := c.vm.contexts[id]; !ok {
		return statusBadArgument
	}
	c.vm.eff = id
	return statusOK
}

// proxyDone lets a root context that answered false from proxy_on_done finish shutting down.
func proxyDone(c *hostCall) uint32 {
	if !c.vm.pendingDone || c.vm.doneCalled {
		return statusNotFound
	}
	c.vm.deferAfter(func(context.Context) { c.vm.doneCalled = true })
	return statusOK
}

// callForeignFunction: Envoy registers a few (compression, filter state helpers); none are
// modelled, so every name is NotFound.
func callForeignFunction(c *hostCall) uint32 {
	if _, ok := c.read(c.u32(0), c.u32(1)); !ok {
		return statusInvalidMemoryAccess
	}
	if _, ok := c.read(c.u32(2), c.u32(3)); !ok {
		return statusInvalidMemoryAccess
	}
	return statusNotFound
}
