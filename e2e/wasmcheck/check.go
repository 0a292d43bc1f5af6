// Package wasmcheck checks that a built plugin exports the proxy-wasm ABI and imports only
// what Envoy provides. A stock-Go build without our SDK binding still compiles, but exports no
// proxy_on_* callbacks, and Envoy would reject it only at deploy time.
package wasmcheck

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
)

// Exports are the proxy-wasm exports of our filters, built as WASI reactors: what Envoy needs,
// and the callbacks the filters implement. No other proxy_on_* may be exported: Envoy calls
// every callback a module exports, and one the filter does not need costs a VM entry per
// request for nothing (see plugin/_sdkabi/abi_wasip1.go).
var Exports = []string{
	"_initialize",
	"memory",
	"proxy_abi_version_0_2_0",
	"proxy_on_configure",
	"proxy_on_context_create",
	"proxy_on_delete",
	"proxy_on_http_call_response",
	"proxy_on_memory_allocate",
	"proxy_on_request_body",
	"proxy_on_request_headers",
	"proxy_on_request_trailers",
	"proxy_on_response_headers",
	"proxy_on_vm_start",
}

// EnvoyWASI is the WASI subset Envoy >= 1.35 gives a Go reactor.
var EnvoyWASI = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get",
	"fd_read", "fd_seek", "fd_write", "path_open", "poll_oneoff", "proc_exit", "random_get",
	"sched_yield",
}

// Module lists a module's exports (functions and memories) and imports as "module.name".
type Module struct {
	Exports []string
	Imports []string
}

// Inspect decodes the module without running it.
func Inspect(ctx context.Context, wasm []byte) (Module, error) {
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return Module{}, err
	}
	var m Module
	for name := range cm.ExportedFunctions() {
		m.Exports = append(m.Exports, name)
	}
	for name := range cm.ExportedMemories() {
		m.Exports = append(m.Exports, name)
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		m.Imports = append(m.Imports, mod+"."+name)
	}
	slices.Sort(m.Exports)
	slices.Sort(m.Imports)
	m.Imports = slices.Compact(m.Imports)
	return m, nil
}

// Check returns every way the module falls short of what Envoy needs, or nil.
func Check(m Module) error {
	var problems []string
	for _, name := range Exports {
		if !slices.Contains(m.Exports, name) {
			problems = append(problems, "missing export "+name)
		}
	}
	for _, name := range m.Exports {
		if strings.HasPrefix(name, "proxy_on_") && !slices.Contains(Exports, name) {
			problems = append(problems, "export "+name+" is not one of the filter's callbacks (a VM entry per request for nothing)")
		}
	}
	for _, imp := range m.Imports {
		mod, name, _ := strings.Cut(imp, ".")
		switch {
		case mod == "env" && strings.HasPrefix(name, "proxy_"):
		case mod == "wasi_snapshot_preview1" && slices.Contains(EnvoyWASI, name):
		default:
			problems = append(problems, "import not provided by Envoy: "+imp)
		}
	}
	if problems != nil {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
