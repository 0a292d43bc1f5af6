package wasmhost

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

const wasiModule = "wasi_snapshot_preview1"

// EnvoyWASI lists the wasi_snapshot_preview1 functions proxy-wasm-cpp-host registers in the
// versions Envoy >= 1.35 ships (FOR_ALL_WASI_FUNCTIONS). A module importing anything else
// fails to link in Envoy, so Compile rejects it too.
var EnvoyWASI = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get",
	"fd_read", "fd_seek", "fd_write", "path_open", "poll_oneoff", "proc_exit", "random_get",
	"sched_yield",
}

var envoyWASISet = toSet(EnvoyWASI)

// initAllowed is what proxy-wasm-cpp-host lets a module call while _initialize runs
// (WasmBase::startVm sets a restricted-callback list): the VM has no root context yet, so
// only logging, args/env, clocks and randomness make sense. fd_fdstat_get and
// fd_fdstat_set_flags are on the list since cpp-host #427 (in every Envoy >= 1.35) because Go's
// syscall package init calls SetNonblock on fds 0-2; without them no Go reactor could start.
var initAllowed = toSet([]string{
	"env.proxy_log",
	wasiModule + ".fd_write",
	wasiModule + ".args_sizes_get", wasiModule + ".args_get",
	wasiModule + ".environ_sizes_get", wasiModule + ".environ_get",
	wasiModule + ".fd_prestat_get", wasiModule + ".fd_prestat_dir_name",
	wasiModule + ".clock_time_get",
	wasiModule + ".random_get",
	wasiModule + ".fd_fdstat_get", wasiModule + ".fd_fdstat_set_flags",
})

func toSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func init() { sort.Strings(EnvoyWASI) }

// instantiateWASI registers wazero's WASI implementation with a listener that enforces the
// _initialize restriction (wazero's host functions cannot be wrapped, but listeners on the
// host module see every call together with the caller's context).
func instantiateWASI(ctx context.Context, r wazero.Runtime) error {
	lctx := experimental.WithFunctionListenerFactory(ctx, initGuard{})
	_, err := wasi_snapshot_preview1.NewBuilder(r).Instantiate(lctx)
	return err
}

type initGuard struct{}

func (initGuard) NewFunctionListener(api.FunctionDefinition) experimental.FunctionListener {
	return initGuard{}
}

func (initGuard) Before(ctx context.Context, _ api.Module, def api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	if vm := vmFrom(ctx); vm != nil {
		vm.checkInit(wasiModule + "." + def.Name())
	}
}

func (initGuard) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}

func (initGuard) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}

// restrictedCall aborts the guest when it calls an import Envoy does not allow yet.
type restrictedCall struct{ name string }

func (e *restrictedCall) Error() string {
	return fmt.Sprintf("%s called during _initialize; Envoy only allows logging, args/environ, clocks and random there", e.name)
}

// logWriter turns the guest's stdout/stderr into log entries, one per line. Envoy logs
// stdout at info and stderr at error level.
type logWriter struct {
	vm    *VM
	level LogLevel
	buf   []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (w *logWriter) emit(line string) {
	w.vm.addLog(w.level, line)
	if w.level >= LogError {
		w.vm.noteStderr(line)
	}
}
