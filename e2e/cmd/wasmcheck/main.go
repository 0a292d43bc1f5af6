// Command wasmcheck fails unless a built plugin exports the proxy-wasm ABI and imports only
// what Envoy provides. A stock-Go build without our SDK binding still compiles, but exports no
// proxy_on_* callbacks, and Envoy would reject it only at deploy time.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
)

// requiredExports are what Envoy looks up for an HTTP filter built as a WASI reactor.
var requiredExports = []string{
	"_initialize",
	"proxy_abi_version_0_2_0",
	"proxy_on_memory_allocate",
	"proxy_on_context_create",
	"proxy_on_vm_start",
	"proxy_on_configure",
	"proxy_on_request_headers",
	"proxy_on_request_body",
	"proxy_on_http_call_response",
	"proxy_on_log",
	"proxy_on_done",
	"proxy_on_delete",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wasmcheck build/plugin.wasm")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "wasmcheck:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	m, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return err
	}
	var problems []string
	exports := m.ExportedFunctions()
	for _, name := range requiredExports {
		if _, ok := exports[name]; !ok {
			problems = append(problems, "missing export "+name)
		}
	}
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == "env" && strings.HasPrefix(name, "proxy_"):
		case mod == "wasi_snapshot_preview1" && slices.Contains(envoyWASI, name):
		default:
			problems = append(problems, "import not provided by Envoy: "+mod+"."+name)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	fmt.Printf("%s: %d bytes, sha256 %x, %d exports, %d imports\n",
		path, len(wasm), sha256.Sum256(wasm), len(exports), len(m.ImportedFunctions()))
	return nil
}

// envoyWASI is the WASI subset Envoy >= 1.35 gives a Go reactor.
var envoyWASI = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get",
	"fd_read", "fd_seek", "fd_write", "path_open", "poll_oneoff", "proc_exit", "random_get",
	"sched_yield",
}
