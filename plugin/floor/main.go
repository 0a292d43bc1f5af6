// Command floor is the measuring stick for the filter's cost: a proxy-wasm filter, built like
// the real one (./build.sh ./plugin/floor build/floor.wasm: stock Go, the same ABI binding,
// the same flags), that makes only the host calls the job cannot avoid and does no other work.
// make bench runs it beside build/plugin.wasm on the same requests; see "Performance: how it
// is measured" in e2e/README.md.
//
// On POST /passwordless/verify (the query string is not looked at) it reads the request
// headers in one call, pauses, reads the body once at the end of the stream, and then
//   - with the request header x-floor-path: verified, makes one callout to cluster userstore
//     with a constant body, reads the answer's headers and body, and answers a constant 200;
//   - otherwise answers the constant 403 unauthorized_client of the rejected path.
//
// On any other request it reads :method and :path and removes the identity headers
// x-passwordless-user-id and x-passwordless-tenant, then lets the request continue. The
// plugin configuration is ignored.
package main

import (
	"runtime/debug"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// vmMemoryLimit is the real plugin's cap on the Go heap of one VM, so both run the guest's
// garbage collector under the same pressure.
const vmMemoryLimit = 4 << 20

func init() {
	debug.SetMemoryLimit(vmMemoryLimit)
	proxywasm.SetVMContext(&vmContext{})
}

// main is never called: the module is a WASI reactor, like the plugin.
func main() {}

const verifyPath = "/passwordless/verify"

var (
	rejectedBody    = []byte(`{"error":"unauthorized_client","error_description":"invalid client"}`)
	verifiedBody    = []byte(`{"user_id":"u1"}`)
	storeBody       = []byte(`{"tenant":"acme","client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456","ip":"127.0.0.1"}`)
	jsonHeaders     = [][2]string{{"content-type", "application/json"}, {"cache-control", "no-store"}}
	calloutHeaders  = [][2]string{{":method", "POST"}, {":path", "/v1/passwordless/verify"}, {":authority", "userstore.internal"}, {"content-type", "application/json"}}
	identityHeaders = [...]string{"x-passwordless-user-id", "x-passwordless-tenant"}
)

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct {
	types.DefaultHttpContext
	verified bool // x-floor-path: verified
}

func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	if method == "POST" {
		if path, _ := proxywasm.GetHttpRequestHeader(":path"); pathIs(path, verifyPath) {
			headers, _ := proxywasm.GetHttpRequestHeaders()
			for _, kv := range headers {
				if kv[0] == "x-floor-path" && kv[1] == "verified" {
					h.verified = true
				}
			}
			if endOfStream {
				h.answer()
			}
			return types.ActionPause
		}
	}
	for _, name := range identityHeaders {
		_ = proxywasm.RemoveHttpRequestHeader(name)
	}
	return types.ActionContinue
}

// pathIs matches the path without its query string.
func pathIs(path, want string) bool {
	return len(path) >= len(want) && path[:len(want)] == want && (len(path) == len(want) || path[len(want)] == '?')
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if !endOfStream {
		return types.ActionPause
	}
	_, _ = proxywasm.GetHttpRequestBody(0, bodySize)
	h.answer()
	return types.ActionPause
}

func (h *httpContext) answer() {
	if !h.verified {
		_ = proxywasm.SendHttpResponse(403, jsonHeaders, rejectedBody, -1)
		return
	}
	if _, err := proxywasm.DispatchHttpCall("userstore", calloutHeaders, storeBody, nil, 1000, onStoreAnswer); err != nil {
		_ = proxywasm.SendHttpResponse(500, jsonHeaders, nil, -1)
	}
}

func onStoreAnswer(_, bodySize, _ int) {
	_, _ = proxywasm.GetHttpCallResponseHeaders()
	if bodySize > 0 {
		_, _ = proxywasm.GetHttpCallResponseBody(0, bodySize)
	}
	_ = proxywasm.SendHttpResponse(200, jsonHeaders, verifiedBody, -1)
}
