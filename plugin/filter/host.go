package filter

// The filter is plain Go: everything it needs from the proxy goes through these interfaces,
// which the plugin implements on proxy-wasm and tests may implement in Go.

// Host is the proxy as one request sees it.
type Host interface {
	// RequestHeader is one request header's value, "" when absent.
	RequestHeader(name string) (string, error)
	RequestHeaders() ([][2]string, error)
	RemoveRequestHeader(name string) error
	ReplaceRequestHeader(name, value string) error
	// RequestBody returns up to size bytes of the buffered body; nil without a body.
	RequestBody(size int) ([]byte, error)
	ReplaceRequestBody(body []byte) error
	ResponseHeaders() ([][2]string, error)
	ReplaceResponseHeader(name, value string) error
	SendResponse(status uint32, headers [][2]string, body []byte) error
	// Resume lets a paused request go upstream.
	Resume() error
	// Call dispatches an HTTP callout to cluster (the user store; SPEC 14 adds the rate-limit
	// service). The host copies headers and body when the call is made, before any answer
	// runs, as proxy_http_call does, so the filter reuses both. answer runs when it ends, with no headers when it failed, and
	// never once the request is gone. During answer, CallAnswerHeaders and CallAnswerBody read
	// the answer.
	Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32, answer func(numHeaders, bodySize int)) error
	CallAnswerHeaders() ([][2]string, error)
	CallAnswerBody(size int) ([]byte, error)
	// SourceAddress is the downstream peer, host:port.
	SourceAddress() (string, error)
	// SetFilterState sets a filter-state property of the request (proxy-wasm set_property),
	// which Envoy's access log can print. The host copies value during the call.
	SetFilterState(name string, value []byte) error
	Log(level LogLevel, msg string)
}

// LogLevel is the level of a log line.
type LogLevel uint8

const (
	LogInfo LogLevel = iota
	LogWarn
	LogError
	LogCritical
)

// SharedData is proxy-wasm shared data: one store per Envoy process, visible to every
// worker's VM, with compare-and-swap versions.
type SharedData interface {
	Get(key string) (value []byte, cas uint32, found bool, err error)
	Set(key string, value []byte, cas uint32) (casMismatch bool, err error)
}

// Counter and Histogram are metrics the plugin defines at start.
type Counter interface{ Increment(offset uint64) }

type Histogram interface{ Record(value uint64) }

// Metrics defines metrics by name.
type Metrics interface {
	Counter(name string) Counter
	Histogram(name string) Histogram
}
