package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	proxywasm.LogInfo("hello from plugin start")
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{}
}

type httpContext struct {
	types.DefaultHttpContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	p, _ := proxywasm.GetHttpRequestHeader(":path")
	_ = proxywasm.SendHttpResponse(400, [][2]string{{"content-type", "application/json"}}, []byte(`{"error":"x","error_description":"`+p+`"}`), -1)
	return types.ActionPause
}
