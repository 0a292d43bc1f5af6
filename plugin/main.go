// Command plugin is the passwordless verify filter, built as a proxy-wasm module.
package main

import (
	"runtime/debug"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// vmMemoryLimit caps the Go heap of one VM. Envoy runs one VM per worker and the Go runtime
// never returns memory to the host, so an uncapped heap only grows.
const vmMemoryLimit = 4 << 20

func init() {
	debug.SetMemoryLimit(vmMemoryLimit)
	proxywasm.SetVMContext(&vmContext{})
}

// main is never called: the module is built as a WASI reactor (c-shared), where the host runs
// _initialize (and with it init) and then calls the proxy_on_* exports.
func main() {}
