// Command guestprof times guest functions of a plugin module in our wasm host: a wazero
// listener on every function whose name contains one of the -match parts records its
// inclusive time, over -n requests of one of e2e/bench's paths after a warm-up. Use a build
// that keeps function names (make bench writes build/plugin.names.wasm and
// build/floor.names.wasm); -vs profiles a second module the same way and prints the two side
// by side. The listeners slow every call they watch, so compare functions with each other and
// the two filters with each other, not with the benchmarks' times.
//
//	go run ./e2e/cmd/guestprof -wasm build/plugin.names.wasm -path rejected \
//	  -match 'proxy_on_request_body,plugin_filter.,runtime.mallocgc'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/passwordless-verify/filter/e2e/bench"
	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "guestprof:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	wasmPath := flag.String("wasm", "build/plugin.names.wasm", "the module, built with function names")
	vsPath := flag.String("vs", "", "a second module (say build/floor.names.wasm) to profile the same way and print beside the first")
	pathName := flag.String("path", "rejected", "which of e2e/bench's paths: rejected, verified or passthrough")
	match := flag.String("match", "proxy_on_,plugin_filter.,runtime.mallocgc", "comma-separated parts of the function names to time")
	n := flag.Int("n", 2000, "measured requests, after 200 of warm-up")
	flag.Parse()
	var path *bench.Path
	for _, p := range bench.Paths() {
		if p.Name == *pathName {
			path = &p
		}
	}
	if path == nil {
		return fmt.Errorf("no path %q", *pathName)
	}
	if *n < 1 {
		return errors.New("-n must be at least 1")
	}
	parts := strings.Split(*match, ",")
	prof, elapsed, err := profileModule(*wasmPath, *path, parts, *n)
	if err != nil {
		return err
	}
	if *vsPath == "" {
		_, _ = fmt.Fprintf(w, "%s, %s: %.1f µs a request with the listeners on\n", *wasmPath, path.Name, perRequest(elapsed, *n))
		for _, name := range prof.byTime() {
			_, _ = fmt.Fprintf(w, "%9.2f µs %7.2f calls  %s\n", perRequest(prof.total[name], *n), float64(prof.calls[name])/float64(*n), name)
		}
		return nil
	}
	vs, vsElapsed, err := profileModule(*vsPath, *path, parts, *n)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(w, "%s: %s %.1f µs, %s %.1f µs a request with the listeners on (inclusive time per request; calls per request)\n",
		path.Name, *wasmPath, perRequest(elapsed, *n), *vsPath, perRequest(vsElapsed, *n))
	_, _ = fmt.Fprintf(w, "%9s %7s %9s %7s  %s\n", "µs", "calls", "vs µs", "calls", "function")
	names := prof.byTime()
	for _, name := range vs.byTime() {
		if _, ok := prof.calls[name]; !ok {
			names = append(names, name)
		}
	}
	for _, name := range names {
		_, _ = fmt.Fprintf(w, "%9.2f %7.2f %9.2f %7.2f  %s\n",
			perRequest(prof.total[name], *n), float64(prof.calls[name])/float64(*n),
			perRequest(vs.total[name], *n), float64(vs.calls[name])/float64(*n), shortName(name))
	}
	return nil
}

// profileModule times n requests of path through a fresh VM of the module at wasmPath.
func profileModule(wasmPath string, path bench.Path, parts []string, n int) (*profile, time.Duration, error) {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (make bench builds it)", err)
	}
	prof := newProfile(parts)
	ctx := context.Background()
	m, err := wasmhost.Compile(experimental.WithFunctionListenerFactory(ctx, prof), wasm)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = m.Close(ctx) }()
	vm, err := m.NewVM(ctx, wasmhost.Config{
		PluginConfig: []byte(bench.Config),
		RootID:       "passwordless_verify",
		Clusters:     map[string]wasmhost.Cluster{"userstore": bench.StoreCluster()},
		Log:          func(wasmhost.LogLevel, string) {},
	})
	if err != nil {
		return nil, 0, err
	}
	req := wasmhost.Request{Method: path.Method, Path: path.Path, Headers: path.Headers, Body: []byte(path.Body)}
	for range 200 {
		if _, err := vm.Do(ctx, req); err != nil {
			return nil, 0, err
		}
	}
	prof.reset()
	start := time.Now()
	for range n {
		if _, err := vm.Do(ctx, req); err != nil {
			return nil, 0, err
		}
	}
	return prof, time.Since(start), nil
}

// shortName drops the module paths that make wasm function names long.
func shortName(name string) string {
	for _, prefix := range []string{"github.com_tetratelabs_proxy_wasm_go_sdk_", "github.com_passwordless_verify_filter_"} {
		name = strings.TrimPrefix(name, prefix)
	}
	return name
}

func perRequest(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }

// profile keeps inclusive time and calls per function. The host runs one guest call at a
// time, so one stack of start times per function is enough (recursion nests on it).
type profile struct {
	parts  []string
	starts map[string][]time.Time
	total  map[string]time.Duration
	calls  map[string]int
}

func newProfile(parts []string) *profile {
	p := &profile{parts: parts, starts: map[string][]time.Time{}}
	p.reset()
	return p
}

func (p *profile) reset() {
	p.total, p.calls = map[string]time.Duration{}, map[string]int{}
}

func (p *profile) byTime() []string {
	names := make([]string, 0, len(p.total))
	for name := range p.total {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return p.total[names[i]] > p.total[names[j]] })
	return names
}

func (p *profile) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	for _, part := range p.parts {
		if part != "" && strings.Contains(def.Name(), part) {
			return listener{p, def.Name()}
		}
	}
	return nil
}

type listener struct {
	p    *profile
	name string
}

func (l listener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	l.p.starts[l.name] = append(l.p.starts[l.name], time.Now())
	l.p.calls[l.name]++
}

func (l listener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {
	s := l.p.starts[l.name]
	if len(s) == 0 {
		return
	}
	l.p.total[l.name] += time.Since(s[len(s)-1])
	l.p.starts[l.name] = s[:len(s)-1]
}

func (l listener) Abort(ctx context.Context, m api.Module, d api.FunctionDefinition, _ error) {
	l.After(ctx, m, d, nil)
}
