package wasmhost

import "fmt"

// Status codes returned by host functions (proxy-wasm WasmResult).
const (
	statusOK                  = 0
	statusNotFound            = 1
	statusBadArgument         = 2
	statusInvalidMemoryAccess = 6
	statusCasMismatch         = 8
	statusUnimplemented       = 12
)

// Header map types.
const (
	mapRequestHeaders      = 0
	mapRequestTrailers     = 1
	mapResponseHeaders     = 2
	mapResponseTrailers    = 3
	mapCallResponseHeaders = 6
	mapCallResponseTrailer = 7
	mapMax                 = 7
)

// Buffer types.
const (
	bufRequestBody      = 0
	bufResponseBody     = 1
	bufCallResponseBody = 4
	bufVMConfig         = 6
	bufPluginConfig     = 7
	bufMax              = 8
)

// Stream types for proxy_continue_stream / proxy_close_stream.
const (
	streamRequest    = 0
	streamResponse   = 1
	streamDownstream = 2
	streamUpstream   = 3
)

// HeadersAction is what a headers (or trailers) callback returned, after the host's
// conversion (a pending local reply or an out-of-range value forces a stop, as in Envoy).
type HeadersAction uint32

const (
	HeadersContinue                     HeadersAction = 0
	HeadersStopIteration                HeadersAction = 1
	HeadersContinueAndEndStream         HeadersAction = 2
	HeadersStopAllIterationAndBuffer    HeadersAction = 3
	HeadersStopAllIterationAndWatermark HeadersAction = 4
	// HeadersNotDelivered: the host did not call the filter (stream already answered or reset,
	// or the host is still holding data for a filter that stopped all iteration).
	HeadersNotDelivered HeadersAction = 0xffffffff
)

func (a HeadersAction) String() string {
	switch a {
	case HeadersContinue:
		return "Continue"
	case HeadersStopIteration:
		return "StopIteration"
	case HeadersContinueAndEndStream:
		return "ContinueAndEndStream"
	case HeadersStopAllIterationAndBuffer:
		return "StopAllIterationAndBuffer"
	case HeadersStopAllIterationAndWatermark:
		return "StopAllIterationAndWatermark"
	case HeadersNotDelivered:
		return "NotDelivered"
	}
	return fmt.Sprintf("HeadersAction(%d)", uint32(a))
}

// DataAction is what a body callback returned, after the host's conversion.
type DataAction uint32

const (
	DataContinue                  DataAction = 0
	DataStopIterationAndBuffer    DataAction = 1
	DataStopIterationAndWatermark DataAction = 2
	DataStopIterationNoBuffer     DataAction = 3
	// DataNotDelivered: the host did not call the filter with this chunk (see HeadersNotDelivered).
	DataNotDelivered DataAction = 0xffffffff
)

func (a DataAction) String() string {
	switch a {
	case DataContinue:
		return "Continue"
	case DataStopIterationAndBuffer:
		return "StopIterationAndBuffer"
	case DataStopIterationAndWatermark:
		return "StopIterationAndWatermark"
	case DataStopIterationNoBuffer:
		return "StopIterationNoBuffer"
	case DataNotDelivered:
		return "NotDelivered"
	}
	return fmt.Sprintf("DataAction(%d)", uint32(a))
}

// LogLevel is a proxy_log level.
type LogLevel uint32

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

func (l LogLevel) String() string {
	switch l {
	case LogTrace:
		return "trace"
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	case LogCritical:
		return "critical"
	}
	return fmt.Sprintf("LogLevel(%d)", uint32(l))
}

// LogEntry is one log line from the guest (proxy_log, or a line it wrote to stdout/stderr).
type LogEntry struct {
	Level LogLevel
	Msg   string
}
