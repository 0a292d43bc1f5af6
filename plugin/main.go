// Command plugin is the passwordless verify filter, built as a proxy-wasm module. It is the
// glue between the proxy-wasm SDK and the filter's logic in package filter.
package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

func init() { proxywasm.SetVMContext(&vmContext{}) }

// main is never called: the module is built as a WASI reactor (c-shared), where the host runs
// _initialize (and with it init) and then calls the proxy_on_* exports.
func main() {}
