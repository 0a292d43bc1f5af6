package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// filters are the modules compared, as built into build/ by build.sh. The .names.wasm twins
// are the same builds without -s (so with wasm function names, and otherwise the same code);
// only the allocation count runs on them, never the timing.
var filters = []string{"ours", "floor"}

func wasmFile(filter string, names bool) string {
	base := map[string]string{"ours": "plugin", "floor": "floor"}[filter]
	if names {
		base += ".names"
	}
	return filepath.Join("..", "..", "build", base+".wasm")
}

var (
	modMu   sync.Mutex
	modules = map[string]*wasmhost.Module{}
	// counter listens on every .names.wasm module; one VM is counted at a time.
	counter = &allocCounter{}
)

// module compiles a file once per test binary, with the allocation counter attached if count.
func module(b *testing.B, file string, count bool) *wasmhost.Module {
	b.Helper()
	modMu.Lock()
	defer modMu.Unlock()
	if m, ok := modules[file]; ok {
		return m
	}
	wasm, err := os.ReadFile(file)
	if err != nil {
		b.Skipf("%s is missing (make bench builds it): %v", file, err)
	}
	ctx := context.Background()
	if count {
		ctx = experimental.WithFunctionListenerFactory(ctx, counter)
	}
	m, err := wasmhost.Compile(ctx, wasm)
	if err != nil {
		b.Fatalf("compile %s: %v", file, err)
	}
	modules[file] = m
	return m
}

func newVM(b *testing.B, m *wasmhost.Module) *wasmhost.VM {
	b.Helper()
	ctx := context.Background()
	vm, err := m.NewVM(ctx, wasmhost.Config{
		PluginConfig: []byte(Config),
		RootID:       "passwordless_verify",
		Clusters:     map[string]wasmhost.Cluster{"userstore": StoreCluster()},
		Log:          func(wasmhost.LogLevel, string) {},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = vm.Close(ctx) })
	return vm
}

func hostRequest(p Path) wasmhost.Request {
	return wasmhost.Request{Method: p.Method, Path: p.Path, Headers: p.Headers, Body: []byte(p.Body)}
}

// do runs one request and checks the outcome, so a broken filter cannot look fast.
func do(b *testing.B, vm *wasmhost.VM, p Path, req wasmhost.Request) {
	res, err := vm.Do(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	switch {
	case p.Status == 200 && p.Method == "GET":
		if !res.Forwarded {
			b.Fatalf("%s: not forwarded: %+v", p.Name, res.Local)
		}
	case res.Local == nil || int(res.Local.Status) != p.Status:
		b.Fatalf("%s: want local reply %d, got %+v (forwarded %v)", p.Name, p.Status, res.Local, res.Forwarded)
	}
}

// BenchmarkWasm runs each path through our filter and through the floor in the wazero host,
// one VM per filter, the same configuration, requests and user store for both. Besides the
// host's ns/op and B/op (the Go benchmark process: host plus guest), it reports per request:
//
//   - guest-allocs/op: heap allocations the guest's Go runtime made (outermost calls of
//     runtime.mallocgc*/mallocTiny*), counted on the .names.wasm twin by a wazero function
//     listener, 1000 requests after 100 of warm-up. Omitted if the twin is missing.
//   - abi-allocs/op: of the host's calls, how many went back into proxy_on_memory_allocate (a
//     host call that returns data does one per call); counted the same way.
//   - host-calls/op: the guest's calls of proxy-wasm host functions; counted the same way.
//   - linear-KiB: the VM's linear memory after the timed requests.
func BenchmarkWasm(b *testing.B) {
	for _, p := range Paths() {
		for _, f := range filters {
			b.Run(p.Name+"/"+f, func(b *testing.B) {
				vm := newVM(b, module(b, wasmFile(f, false), false))
				req := hostRequest(p)
				do(b, vm, p, req)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					do(b, vm, p, req)
				}
				b.StopTimer()
				b.ReportMetric(float64(vm.MemoryBytes())/1024, "linear-KiB")
				if mallocs, abi, hostCalls, ok := countAllocs(b, f, p); ok {
					b.ReportMetric(mallocs, "guest-allocs/op")
					b.ReportMetric(abi, "abi-allocs/op")
					b.ReportMetric(hostCalls, "host-calls/op")
				}
			})
		}
	}
}

// pairBatch is how many requests BenchmarkWasmPair sends to one filter before switching.
const pairBatch = 32

// BenchmarkWasmPair is the ratio of record: it alternates batches of pairBatch requests
// between our filter and the floor, each on its own VM, and times each filter's share, so
// both see the same background load (the machine may be shared; BenchmarkWasm runs one
// filter after the other, seconds apart). It reports ours-ns/op and floor-ns/op per request
// and ours/floor; the benchmark's own ns/op is one request through each.
func BenchmarkWasmPair(b *testing.B) {
	for _, p := range Paths() {
		b.Run(p.Name, func(b *testing.B) {
			ours := newVM(b, module(b, wasmFile("ours", false), false))
			floor := newVM(b, module(b, wasmFile("floor", false), false))
			req := hostRequest(p)
			for range pairBatch {
				do(b, ours, p, req)
				do(b, floor, p, req)
			}
			var tOurs, tFloor time.Duration
			b.ResetTimer()
			for n := 0; n < b.N; n += pairBatch {
				k := min(pairBatch, b.N-n)
				t0 := time.Now()
				for range k {
					do(b, ours, p, req)
				}
				t1 := time.Now()
				for range k {
					do(b, floor, p, req)
				}
				tOurs += t1.Sub(t0)
				tFloor += time.Since(t1)
			}
			b.StopTimer()
			b.ReportMetric(float64(tOurs.Nanoseconds())/float64(b.N), "ours-ns/op")
			b.ReportMetric(float64(tFloor.Nanoseconds())/float64(b.N), "floor-ns/op")
			b.ReportMetric(float64(tOurs)/float64(tFloor), "ours/floor")
		})
	}
}

const countRequests = 1000

func countAllocs(b *testing.B, f string, p Path) (mallocs, abi, hostCalls float64, ok bool) {
	file := wasmFile(f, true)
	if _, err := os.Stat(file); err != nil {
		return 0, 0, 0, false
	}
	c := counter
	vm := newVM(b, module(b, file, true))
	req := hostRequest(p)
	for range 100 {
		do(b, vm, p, req)
	}
	c.reset()
	for range countRequests {
		do(b, vm, p, req)
	}
	_ = vm.Close(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.mallocs) / countRequests, float64(c.abi) / countRequests, float64(c.hostCalls) / countRequests, true
}

// allocCounter is a wazero listener on the guest's allocation entry points and on the guest
// functions that wrap the host's proxy-wasm imports (one call of each is one host call).
// Nested allocation entries (a specialised malloc called from mallocgc) count once. A
// goroutine switch inside an allocation unwinds and re-enters the wasm frames, so a rare
// allocation can count twice: the figure is exact to within about one per guest GC cycle.
type allocCounter struct {
	mu        sync.Mutex
	depth     int
	mallocs   int
	abi       int
	hostCalls int
}

func (c *allocCounter) reset() {
	c.mu.Lock()
	c.mallocs, c.abi, c.hostCalls = 0, 0, 0
	c.mu.Unlock()
}

func (c *allocCounter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	name := def.Name()
	switch {
	case name == "proxy_on_memory_allocate":
		return callListener{c, &c.abi}
	case strings.HasPrefix(name, "runtime.mallocgc") || strings.HasPrefix(name, "runtime.mallocTiny"):
		return mallocListener{c}
	case strings.Contains(name, "proxywasm_internal.host"): // plugin/_sdkabi's import wrappers
		return callListener{c, &c.hostCalls}
	}
	return nil
}

type mallocListener struct{ c *allocCounter }

func (l mallocListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	l.c.mu.Lock()
	if l.c.depth == 0 {
		l.c.mallocs++
	}
	l.c.depth++
	l.c.mu.Unlock()
}

func (l mallocListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {
	l.c.mu.Lock()
	l.c.depth--
	l.c.mu.Unlock()
}

func (l mallocListener) Abort(ctx context.Context, m api.Module, d api.FunctionDefinition, _ error) {
	l.After(ctx, m, d, nil)
}

// callListener counts the calls of the functions it listens on into n.
type callListener struct {
	c *allocCounter
	n *int
}

func (l callListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	l.c.mu.Lock()
	*l.n++
	l.c.mu.Unlock()
}

func (callListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}

func (callListener) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}

// BenchmarkWasmMemory sends our filter b.N requests cycling through the three paths and a
// verify body of 16 KiB, the largest the configuration takes, and reports the VM's linear
// memory afterwards: Go's wasm memory never shrinks, so that is its high-water mark.
//
//	go test -run '^$' -bench WasmMemory -benchtime 100000x ./e2e/bench
func BenchmarkWasmMemory(b *testing.B) {
	vm := newVM(b, module(b, wasmFile("ours", false), false))
	paths := Paths()
	big := paths[0]
	big.Name = "rejected, 16 KiB"
	big.Body = `{"client_id":"other-client","connection":"email","username":"a@example.com","otp":"123456","pad":"` +
		strings.Repeat("x", 16384-120) + `"}`
	paths = append(paths, big)
	reqs := make([]wasmhost.Request, len(paths))
	for i, p := range paths {
		reqs[i] = hostRequest(p)
	}
	i := 0
	for b.Loop() {
		do(b, vm, paths[i%len(paths)], reqs[i%len(paths)])
		i++
	}
	b.ReportMetric(float64(vm.MemoryBytes())/1024, "linear-KiB")
}
