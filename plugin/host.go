package main

import (
	"errors"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/passwordless-verify/filter/plugin/filter"
)

// host is filter.Host on proxy-wasm: the current request is the SDK's active context.
type host struct{}

func (host) RequestHeader(name string) (string, error) {
	v, err := proxywasm.GetHttpRequestHeader(name)
	if errors.Is(err, types.ErrorStatusNotFound) {
		return "", nil
	}
	return v, err
}

func (host) RequestHeaders() ([][2]string, error) { return proxywasm.GetHttpRequestHeaders() }

func (host) RemoveRequestHeader(name string) error { return proxywasm.RemoveHttpRequestHeader(name) }

func (host) ReplaceRequestHeader(name, value string) error {
	return proxywasm.ReplaceHttpRequestHeader(name, value)
}

func (host) RequestBody(size int) ([]byte, error) {
	body, err := proxywasm.GetHttpRequestBody(0, size)
	if errors.Is(err, types.ErrorStatusNotFound) {
		return nil, nil
	}
	return body, err
}

func (host) ReplaceRequestBody(body []byte) error { return proxywasm.ReplaceHttpRequestBody(body) }

func (host) ResponseHeaders() ([][2]string, error) { return proxywasm.GetHttpResponseHeaders() }

func (host) ReplaceResponseHeader(name, value string) error {
	return proxywasm.ReplaceHttpResponseHeader(name, value)
}

func (host) SendResponse(status uint32, headers [][2]string, body []byte) error {
	return proxywasm.SendHttpResponse(status, headers, body, -1)
}

func (host) Resume() error { return proxywasm.ResumeHttpRequest() }

func (host) Call(cluster string, headers [][2]string, body []byte, timeoutMS uint32, answer func(numHeaders, bodySize int)) error {
	_, err := proxywasm.DispatchHttpCall(cluster, headers, body, nil, timeoutMS,
		func(numHeaders, bodySize, _ int) { answer(numHeaders, bodySize) })
	return err
}

func (host) CallAnswerHeaders() ([][2]string, error) { return proxywasm.GetHttpCallResponseHeaders() }

func (host) CallAnswerBody(size int) ([]byte, error) {
	return proxywasm.GetHttpCallResponseBody(0, size)
}

func (host) SourceAddress() (string, error) {
	addr, err := proxywasm.GetProperty([]string{"source", "address"})
	return string(addr), err
}

func (host) Log(level filter.LogLevel, msg string) {
	switch level {
	case filter.LogInfo:
		proxywasm.LogInfo(msg)
	case filter.LogWarn:
		proxywasm.LogWarn(msg)
	case filter.LogError:
		proxywasm.LogError(msg)
	default:
		proxywasm.LogCritical(msg)
	}
}

// sharedData is filter.SharedData on proxy-wasm shared data.
type sharedData struct{}

func (sharedData) Get(key string) ([]byte, uint32, bool, error) {
	v, cas, err := proxywasm.GetSharedData(key)
	if errors.Is(err, types.ErrorStatusNotFound) {
		return nil, 0, false, nil
	}
	return v, cas, err == nil, err
}

func (sharedData) Set(key string, value []byte, cas uint32) (bool, error) {
	err := proxywasm.SetSharedData(key, value, cas)
	if errors.Is(err, types.ErrorStatusCasMismatch) {
		return true, nil
	}
	return false, err
}

// metrics defines proxy-wasm metrics.
type metrics struct{}

func (metrics) Counter(name string) filter.Counter { return proxywasm.DefineCounterMetric(name) }

func (metrics) Histogram(name string) filter.Histogram {
	return proxywasm.DefineHistogramMetric(name)
}
