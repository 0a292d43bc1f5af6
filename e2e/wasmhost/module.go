package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// maxMemoryPages is proxy-wasm-cpp-host's 1 GiB cap on a VM's linear memory.
const maxMemoryPages = (1 << 30) / 65536

// compilationCache lets a process compile the same bytes twice (several tests, a runner and
// benchmarks) without paying for it again.
var compilationCache = wazero.NewCompilationCache()

// Module is a compiled filter. Compiling takes about a second; instantiating a VM from it
// takes milliseconds, so compile once per process and share the Module.
type Module struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	imports  []string
	exports  []string
	hasInit  bool // _initialize (WASI reactor)
	hasStart bool // _start (WASI command)
}

// Compile validates and compiles a proxy-wasm module. It fails, naming every offender, if the
// module imports a function this host does not provide (an unimplemented proxy_* call, a WASI
// function Envoy does not register, a wrong signature) or lacks the proxy-wasm ABI 0.2 export,
// the checks Envoy makes when it links and starts the VM.
func Compile(ctx context.Context, wasm []byte) (*Module, error) {
	// No WithCloseOnContextDone: a caller's deadline bounds waiting for callouts, but must not
	// kill a VM in the middle of a callback (Envoy has no per-call limit either).
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithMemoryLimitPages(maxMemoryPages).
		WithCompilationCache(compilationCache))
	m := &Module{rt: rt}
	if err := m.compile(ctx, wasm); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return m, nil
}

func (m *Module) compile(ctx context.Context, wasm []byte) error {
	if err := instantiateWASI(ctx, m.rt); err != nil {
		return fmt.Errorf("wasmhost: WASI: %w", err)
	}
	if err := registerEnv(ctx, m.rt); err != nil {
		return fmt.Errorf("wasmhost: env: %w", err)
	}
	cm, err := m.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("wasmhost: compile: %w", err)
	}
	m.compiled = cm

	var bad []string
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		full := mod + "." + name
		m.imports = append(m.imports, full)
		switch mod {
		case "env":
			h, ok := hostFuncs[name]
			if !ok {
				bad = append(bad, full+" (not implemented by this host)")
			} else if !sameTypes(h.params, f.ParamTypes()) || !sameTypes([]api.ValueType{api.ValueTypeI32}, f.ResultTypes()) {
				bad = append(bad, fmt.Sprintf("%s (signature %v -> %v, want %v -> [i32])", full, f.ParamTypes(), f.ResultTypes(), h.params))
			}
		case wasiModule:
			if !envoyWASISet[name] {
				bad = append(bad, full+" (WASI function Envoy does not provide)")
			}
		default:
			bad = append(bad, full+" (unknown import module)")
		}
	}
	for _, mem := range cm.ImportedMemories() {
		mod, name, _ := mem.Import()
		bad = append(bad, mod+"."+name+" (imported memory)")
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("wasmhost: module imports functions the host cannot provide: %s", strings.Join(bad, "; "))
	}

	for name := range cm.ExportedFunctions() {
		m.exports = append(m.exports, name)
	}
	sort.Strings(m.imports)
	m.imports = dedup(m.imports)
	sort.Strings(m.exports)
	ex := cm.ExportedFunctions()
	_, m.hasInit = ex["_initialize"]
	_, m.hasStart = ex["_start"]
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return errors.New("wasmhost: module exports no memory")
	}
	_, v020 := ex["proxy_abi_version_0_2_0"]
	_, v021 := ex["proxy_abi_version_0_2_1"]
	if !v020 && !v021 {
		// Envoy refuses modules without a known ABI version export; 0.1.0 is not modelled here.
		return errors.New("wasmhost: module exports no proxy_abi_version_0_2_0/0_2_1")
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Close releases the compiled code and every VM instantiated from it.
func (m *Module) Close(ctx context.Context) error { return m.rt.Close(ctx) }

// Imports lists the module's imported functions as "module.name", sorted.
func (m *Module) Imports() []string { return append([]string(nil), m.imports...) }

// Exports lists the module's exported function names, sorted.
func (m *Module) Exports() []string { return append([]string(nil), m.exports...) }

// hostFunc is one env.proxy_* import. fn runs with the VM lock held by the caller of the guest.
type hostFunc struct {
	params []api.ValueType
	fn     func(c *hostCall) uint32
}

// hostCall bundles what a host function needs about the running call.
type hostCall struct {
	vm    *VM
	ctx   context.Context
	mod   api.Module
	stack []uint64
}

func (c *hostCall) u32(i int) uint32 { return api.DecodeU32(c.stack[i]) }

func i32s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = api.ValueTypeI32
	}
	return t
}

func registerEnv(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("env")
	names := make([]string, 0, len(hostFuncs))
	for n := range hostFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		h, full := hostFuncs[name], "env."+name
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			vm := vmFrom(ctx)
			if vm == nil {
				stack[0] = statusBadArgument // called outside a VM-driven call: nothing to act on
				return
			}
			vm.checkInit(full)
			stack[0] = uint64(h.fn(&hostCall{vm: vm, ctx: ctx, mod: mod, stack: stack}))
		}), h.params, i32s(1)).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}
