package main

import (
	"errors"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/passwordless-verify/filter/plugin/filter"
)

// The SDK's callbacks, each handed to the filter with the host behind filter.Host.

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	filter *filter.Plugin
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogCritical("passwordless_verify: cannot read configuration: " + err.Error())
		return types.OnPluginStartStatusFailed
	}
	if p.filter, err = filter.New(data, metrics{}, sharedData{}, hostRandom); err != nil {
		proxywasm.LogCritical("passwordless_verify: " + err.Error())
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	h := &httpContext{}
	h.stream.Init(p.filter, host{})
	return h
}

type httpContext struct {
	types.DefaultHttpContext
	stream filter.Stream
}

func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	return action(h.stream.OnRequestHeaders(endOfStream))
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	return action(h.stream.OnRequestBody(bodySize, endOfStream))
}

func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	return action(h.stream.OnRequestTrailers())
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	return action(h.stream.OnResponseHeaders())
}

// OnHttpStreamDone runs when the stream is gone (from proxy_on_delete: see _sdkabi).
func (h *httpContext) OnHttpStreamDone() { h.stream.OnDone() }

func action(a filter.Action) types.Action {
	if a == filter.Pause {
		return types.ActionPause
	}
	return types.ActionContinue
}
