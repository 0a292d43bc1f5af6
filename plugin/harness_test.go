package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// The harness runs every plugin test twice: natively with the SDK's proxytest emulator, and on
// the built build/plugin.wasm in our wazero host. Tests see only request and outcome.

type request struct {
	method, path, authority string
	scheme                  string // "" is https
	headers                 [][2]string
	body                    string
	chunk                   int // deliver the body in chunks of this size; 0 = one chunk
	source                  string
	trailers                [][2]string
	upstream                *wasmhost.UpstreamResponse // the answer to a forwarded request
}

type outcome struct {
	status    uint32      // local answer status; 0 when none
	headers   [][2]string // local answer headers, or the forwarded request headers
	body      []byte      // local answer body, or the forwarded request body
	forwarded bool
	paused    bool                       // neither answered nor forwarded: a stuck request
	response  *wasmhost.UpstreamResponse // request.upstream as the filter passed it on
	path      string                     // :path as the filter left it, for the access log
	record    string                     // the access-log record the filter set (SPEC 10); "" for none
}

type filterVM interface {
	do(t testing.TB, r request) outcome
	// doAll sends every request before any user store answer is delivered, as concurrent
	// clients would, then delivers the answers; outcomes are in request order.
	doAll(t testing.TB, rs []request) []outcome
	// leave sends the request, and the client goes away before any user store answer: the
	// stream ends, then its calls complete against a context that is gone.
	leave(t testing.TB, r request)
	counter(t testing.TB, name string) uint64
	// histogramLast is the last value recorded in a histogram.
	histogramLast(t testing.TB, name string) uint64
	logs() []string
	// sharedData reads the VM's shared data, as an operator of the host could.
	sharedData(t testing.TB, key string) []byte
}

type harness struct {
	wasm bool
	// calls records every user store call the filter made, in both modes.
	mu    sync.Mutex
	calls []wasmhost.CalloutRequest
}

// vmTest runs f natively and on plugin.wasm.
func vmTest(t *testing.T, f func(t *testing.T, h *harness)) {
	t.Helper()
	t.Run("native", func(t *testing.T) { f(t, &harness{}) })
	t.Run("wasm", func(t *testing.T) { f(t, &harness{wasm: true}) })
}

// recorder wraps a cluster so the test can see what the filter sent.
func (h *harness) recorder(c wasmhost.Cluster) wasmhost.Cluster {
	return wasmhost.ClusterFunc(func(ctx context.Context, req *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		h.mu.Lock()
		h.calls = append(h.calls, *req)
		h.mu.Unlock()
		return c.RoundTrip(ctx, req)
	})
}

func (h *harness) callouts() []wasmhost.CalloutRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wasmhost.CalloutRequest(nil), h.calls...)
}

// start starts the plugin with cfg; a configuration the plugin refuses is an error.
func (h *harness) start(t *testing.T, cfg string, clusters map[string]wasmhost.Cluster) (filterVM, error) {
	t.Helper()
	wrapped := map[string]wasmhost.Cluster{}
	for name, c := range clusters {
		wrapped[name] = h.recorder(c)
	}
	if h.wasm {
		return startWasm(t, cfg, wrapped, nil)
	}
	return startNative(t, cfg, wrapped)
}

func (h *harness) mustStart(t *testing.T, cfg string, clusters map[string]wasmhost.Cluster) filterVM {
	t.Helper()
	vm, err := h.start(t, cfg, clusters)
	if err != nil {
		t.Fatalf("plugin did not start: %v", err)
	}
	return vm
}

func pseudoHeaders(r request) [][2]string {
	method, path, authority := r.method, r.path, r.authority
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/passwordless/verify"
	}
	if authority == "" {
		authority = "login.example.com"
	}
	scheme := r.scheme
	if scheme == "" {
		scheme = "https"
	}
	return [][2]string{{":method", method}, {":path", path}, {":authority", authority}, {":scheme", scheme}}
}

func chunks(body string, size int) []string {
	if size <= 0 || size >= len(body) {
		return []string{body}
	}
	var out []string
	for len(body) > size {
		out = append(out, body[:size])
		body = body[size:]
	}
	return append(out, body)
}

// --- native mode: the SDK's proxytest emulator ---

type nativeVM struct {
	host     proxytest.HostEmulator
	clusters map[string]wasmhost.Cluster
	timeouts *calloutTimeouts
}

// calloutTimeouts reads the timeout of each callout from the line proxytest logs for it (its
// HttpCalloutAttribute has none), so the native half honours timeout_ms like the wasm host.
// Every other line proxytest logs is dropped: it logs callout bodies, with the code.
type calloutTimeouts struct {
	mu   sync.Mutex
	seen []time.Duration // in the order the callouts were made, not yet claimed by a stream
}

func (c *calloutTimeouts) Write(line []byte) (int, error) {
	const mark = "] timeout: "
	l := string(line)
	if i := strings.Index(l, mark); i >= 0 && strings.Contains(l, "[http callout to ") {
		if ms, err := strconv.Atoi(strings.TrimSpace(l[i+len(mark):])); err == nil {
			c.mu.Lock()
			c.seen = append(c.seen, time.Duration(ms)*time.Millisecond)
			c.mu.Unlock()
		}
	}
	return len(line), nil
}

// take returns the timeouts of the callouts made since the last take.
func (c *calloutTimeouts) take() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.seen
	c.seen = nil
	return out
}

// releaseNative ends the running emulator: proxytest allows one at a time, so a test that
// starts a second plugin natively replaces the first.
var releaseNative = func() {}

func startNative(t testing.TB, cfg string, clusters map[string]wasmhost.Cluster) (filterVM, error) {
	releaseNative()
	opt := proxytest.NewEmulatorOption().WithVMContext(&vmContext{}).WithPluginConfiguration([]byte(cfg))
	host, reset := proxytest.NewHostEmulator(opt)
	releaseNative = sync.OnceFunc(reset)
	t.Cleanup(func() { releaseNative() })
	if host.StartPlugin() != types.OnPluginStartStatusOK {
		return nil, errors.New(strings.Join(host.GetCriticalLogs(), "\n"))
	}
	return newNativeVM(host, clusters), nil
}

// newNativeVM drives a started emulator; from now on proxytest's log is read for timeouts.
func newNativeVM(host proxytest.HostEmulator, clusters map[string]wasmhost.Cluster) *nativeVM {
	timeouts := &calloutTimeouts{}
	log.SetOutput(timeouts)
	return &nativeVM{host: host, clusters: clusters, timeouts: timeouts}
}

// nativeStream is a request sent to the emulator whose callouts are not yet answered.
type nativeStream struct {
	id       uint32
	record   string                     // the record its callbacks set
	timeouts []time.Duration            // of the stream's callouts, in the order made
	sent     []byte                     // body that went upstream chunk by chunk
	held     bool                       // the last chunk was held back (paused)
	upstream *wasmhost.UpstreamResponse // the upstream's answer if the request goes there
}

func (n *nativeVM) do(t testing.TB, r request) outcome {
	t.Helper()
	return n.finish(n.send(t, r))
}

func (n *nativeVM) doAll(t testing.TB, rs []request) []outcome {
	t.Helper()
	streams := make([]*nativeStream, len(rs))
	for i, r := range rs {
		streams[i] = n.send(t, r)
	}
	outs := make([]outcome, len(rs))
	for i, s := range streams {
		outs[i] = n.finish(s)
	}
	return outs
}

func (n *nativeVM) send(t testing.TB, r request) *nativeStream {
	t.Helper()
	host := n.host
	src := r.source
	if src == "" {
		src = "127.0.0.1:50000"
	}
	if err := host.SetProperty([]string{"source", "address"}, []byte(src)); err != nil {
		t.Fatal(err)
	}
	s := &nativeStream{id: host.InitializeHttpContext(), upstream: r.upstream}
	defer func() { s.timeouts = append(s.timeouts, n.timeouts.take()...) }()
	noBody := r.body == "" && r.trailers == nil
	n.watch(s, func() { host.CallOnRequestHeaders(s.id, append(pseudoHeaders(r), r.headers...), noBody) })
	if noBody {
		return s
	}
	// proxytest shows only the current chunk once the filter continues, so the harness keeps
	// what went upstream chunk by chunk; a body held back (paused) goes when resumed.
	parts := chunks(r.body, r.chunk)
	for i, c := range parts {
		if host.GetSentLocalResponse(s.id) != nil {
			break
		}
		n.watch(s, func() {
			s.held = host.CallOnRequestBody(s.id, []byte(c), i == len(parts)-1 && r.trailers == nil) != types.ActionContinue
		})
		if !s.held {
			s.sent = append(s.sent, host.GetCurrentRequestBody(s.id)...)
		}
	}
	if r.trailers != nil && host.GetSentLocalResponse(s.id) == nil {
		n.watch(s, func() { host.CallOnRequestTrailers(s.id, r.trailers) })
	}
	return s
}

// Natively the record is read around each callback: proxytest keeps one property map for the
// whole VM, where the guest's buffer itself is kept, not a copy.
var (
	recordPath = []string{filter.RecordProperty}
	noRecord   = []byte{0}
)

// watch runs one callback of stream s and keeps the record it set.
func (n *nativeVM) watch(s *nativeStream, callback func()) {
	_ = n.host.SetProperty(recordPath, noRecord)
	callback()
	if v, err := n.host.GetProperty(recordPath); err == nil && string(v) != string(noRecord) {
		s.record = string(v)
	}
}

func (n *nativeVM) leave(t testing.TB, r request) {
	t.Helper()
	s := n.send(t, r)
	n.host.CompleteHttpContext(s.id)
	n.deliverAll(s) // the SDK finds the context gone and drops the answers
}

// finish delivers the stream's user store answers until none is pending, as Envoy's event
// loop would, and ends the stream.
func (n *nativeVM) finish(s *nativeStream) outcome {
	host := n.host
	defer host.CompleteHttpContext(s.id)
	n.deliverAll(s)
	path := headerValue(host.GetCurrentRequestHeaders(s.id), ":path")
	if lr := host.GetSentLocalResponse(s.id); lr != nil {
		return outcome{status: lr.StatusCode, headers: lr.Headers, body: lr.Data, path: path, record: s.record}
	}
	if host.GetCurrentHttpStreamAction(s.id) == types.ActionContinue {
		sent := s.sent
		if s.held {
			sent = append(sent, host.GetCurrentRequestBody(s.id)...)
		}
		o := outcome{forwarded: true, headers: host.GetCurrentRequestHeaders(s.id), body: sent, path: path, record: s.record}
		if up := s.upstream; up != nil {
			status := [][2]string{{":status", strconv.Itoa(int(up.Status))}}
			host.CallOnResponseHeaders(s.id, append(status, up.Headers...), len(up.Body) == 0)
			o.response = &wasmhost.UpstreamResponse{Status: up.Status, Body: up.Body}
			for _, kv := range host.GetCurrentResponseHeaders(s.id) {
				if kv[0] != ":status" {
					o.response.Headers = append(o.response.Headers, kv)
				}
			}
		}
		return o
	}
	return outcome{paused: true, path: path, record: s.record}
}

// deliverAll delivers the stream's callouts, and those their answers make, until none is left.
func (n *nativeVM) deliverAll(s *nativeStream) {
	for done := 0; ; {
		attrs := n.host.GetCalloutAttributesFromContext(s.id)
		if done == len(attrs) {
			return
		}
		if len(s.timeouts) < len(attrs) {
			panic("harness: a callout without its timeout line: who replaced log's output?")
		}
		for i, a := range attrs[done:] {
			n.watch(s, func() { n.deliver(a, s.timeouts[done+i]) })
			s.timeouts = append(s.timeouts, n.timeouts.take()...)
		}
		done = len(attrs)
	}
}

// deliver runs one callout against its cluster within its timeout, which Envoy enforces
// even against a cluster that never answers. proxytest accepts any cluster name, so an
// unknown one is delivered as a failed call (Envoy refuses its dispatch instead).
func (n *nativeVM) deliver(a proxytest.HttpCalloutAttribute, timeout time.Duration) {
	c, ok := n.clusters[a.Upstream]
	if !ok {
		n.host.CallOnHttpCallResponse(a.CalloutID, nil, nil, nil)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		resp *wasmhost.CalloutResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.RoundTrip(ctx, &wasmhost.CalloutRequest{Headers: a.Headers, Body: a.Body, Trailers: a.Trailers, Timeout: timeout})
		done <- result{resp, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err != nil || r.resp == nil {
		n.host.CallOnHttpCallResponse(a.CalloutID, nil, nil, nil)
		return
	}
	n.host.CallOnHttpCallResponse(a.CalloutID, r.resp.Headers, r.resp.Trailers, r.resp.Body)
}

func (n *nativeVM) counter(t testing.TB, name string) uint64 {
	v, err := n.host.GetCounterMetric(name)
	if err != nil {
		t.Fatalf("counter %s: %v", name, err)
	}
	return v
}

func (n *nativeVM) histogramLast(t testing.TB, name string) uint64 {
	v, err := n.host.GetHistogramMetric(name)
	if err != nil {
		t.Fatalf("histogram %s: %v", name, err)
	}
	return v
}

// sharedData reads the emulator's store: natively the SDK calls go to proxytest.
func (n *nativeVM) sharedData(t testing.TB, key string) []byte {
	v, _, err := proxywasm.GetSharedData(key)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		t.Fatal(err)
	}
	return v
}

func (n *nativeVM) logs() []string {
	h := n.host
	var all []string
	for _, l := range [][]string{h.GetTraceLogs(), h.GetDebugLogs(), h.GetInfoLogs(), h.GetWarnLogs(), h.GetErrorLogs(), h.GetCriticalLogs()} {
		all = append(all, l...)
	}
	return all
}

// --- wasm mode: build/plugin.wasm in the wazero host ---

var (
	modulesMu sync.Mutex
	modules   = map[string]*wasmhost.Module{}
)

// wasmModule is build/plugin.wasm, compiled once per process.
func wasmModule(t testing.TB) *wasmhost.Module {
	t.Helper()
	m, err := loadModule("plugin.wasm")
	if err != nil {
		t.Fatalf("plugin.wasm: %v", err)
	}
	return m
}

// loadModule compiles a fresh module of build/, once per process.
func loadModule(name string) (*wasmhost.Module, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[name]; m != nil {
		return m, nil
	}
	path := filepath.Join("..", "build", name)
	if err := checkFresh(path); err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run make build)", err)
	}
	m, err := wasmhost.Compile(context.Background(), wasm)
	if err != nil {
		return nil, err
	}
	modules[name] = m
	return m, nil
}

// wasmSources are what build.sh compiles into plugin.wasm, relative to this package.
var wasmSources = []string{".", filepath.Join("..", "shared"), filepath.Join("..", "go.mod"),
	filepath.Join("..", "go.sum"), filepath.Join("..", "build.sh")}

// checkFresh refuses a plugin.wasm older than any of its sources: the wasm half of every test
// would silently test the previous code.
func checkFresh(wasmPath string) error {
	info, err := os.Stat(wasmPath)
	if err != nil {
		return fmt.Errorf("%w (run make build)", err)
	}
	built := info.ModTime()
	for _, root := range wasmSources {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "testdata":
				return filepath.SkipDir
			case d.IsDir(), strings.HasSuffix(path, "_test.go"):
				return nil
			case root != filepath.Clean(path) && filepath.Ext(path) != ".go":
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.ModTime().After(built) {
				return fmt.Errorf("%s is older than %s: run make build (make test builds first)", wasmPath, path)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type wasmVM struct {
	vm     *wasmhost.VM
	shared *wasmhost.SharedData
}

func startWasm(t testing.TB, cfg string, clusters map[string]wasmhost.Cluster, shared *wasmhost.SharedData) (*wasmVM, error) {
	t.Helper()
	return startModule(t, wasmModule(t), cfg, clusters, shared)
}

func startModule(t testing.TB, m *wasmhost.Module, cfg string, clusters map[string]wasmhost.Cluster, shared *wasmhost.SharedData) (*wasmVM, error) {
	t.Helper()
	if shared == nil {
		shared = wasmhost.NewSharedData()
	}
	vm, err := m.NewVM(context.Background(), wasmhost.Config{
		PluginConfig: []byte(cfg),
		Clusters:     clusters,
		Shared:       shared,
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := vm.Err(); err != nil {
			t.Errorf("the VM died: %v", err)
		}
		_ = vm.Close(context.Background())
	})
	return &wasmVM{vm: vm, shared: shared}, nil
}

func (w *wasmVM) do(t testing.TB, r request) outcome {
	t.Helper()
	return w.finish(t, w.send(t, r), r.upstream)
}

func (w *wasmVM) leave(t testing.TB, r request) {
	t.Helper()
	// Finish ends the stream at once, then delivers its calls to the root context.
	if _, err := w.send(t, r).Finish(context.Background()); err != nil {
		t.Fatalf("wasm VM: %v", err)
	}
}

func (w *wasmVM) doAll(t testing.TB, rs []request) []outcome {
	t.Helper()
	streams := make([]*wasmhost.Stream, len(rs))
	for i, r := range rs {
		streams[i] = w.send(t, r)
	}
	outs := make([]outcome, len(rs))
	for i, s := range streams {
		outs[i] = w.finish(t, s, rs[i].upstream)
	}
	return outs
}

// send runs the request's headers, body and trailers through the filter. Its callouts run
// at once, but the host delivers their answers only when the stream is finished.
func (w *wasmVM) send(t testing.TB, r request) *wasmhost.Stream {
	t.Helper()
	ctx := context.Background()
	ph := pseudoHeaders(r)
	s, err := w.vm.NewStream(wasmhost.Request{
		Method:        ph[0][1],
		Path:          ph[1][1],
		Authority:     ph[2][1],
		Scheme:        ph[3][1],
		Headers:       r.headers,
		Body:          []byte(r.body),
		ChunkSize:     r.chunk,
		SourceAddress: r.source,
		Trailers:      r.trailers,
	})
	if err != nil {
		t.Fatalf("wasm VM: %v", err)
	}
	if _, err := s.SendHeaders(ctx, r.body == "" && r.trailers == nil); err != nil {
		t.Fatalf("wasm VM: %v", err)
	}
	parts := chunks(r.body, r.chunk)
	for i, c := range parts {
		if s.Ended() || c == "" {
			break
		}
		if _, err := s.SendBody(ctx, []byte(c), i == len(parts)-1 && r.trailers == nil); err != nil {
			t.Fatalf("wasm VM: %v", err)
		}
	}
	if r.trailers != nil && !s.Ended() {
		if _, err := s.SendTrailers(ctx, r.trailers); err != nil {
			t.Fatalf("wasm VM: %v", err)
		}
	}
	return s
}

// finish delivers the stream's callouts, passes the upstream's answer (if any) through the
// filter when the request went upstream, and ends the stream.
func (w *wasmVM) finish(t testing.TB, s *wasmhost.Stream, upstream *wasmhost.UpstreamResponse) outcome {
	t.Helper()
	ctx := context.Background()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("wasm VM: %v", err)
	}
	if upstream != nil && s.Snapshot().Forwarded {
		if err := s.Respond(ctx, upstream); err != nil {
			t.Fatalf("wasm VM: %v", err)
		}
	}
	res, err := s.Finish(ctx)
	if err != nil {
		t.Fatalf("wasm VM: %v", err)
	}
	path := headerValue(res.RequestHeaders, ":path")
	record := string(res.FilterState["wasm."+filter.RecordProperty])
	switch {
	case res.Local != nil:
		return outcome{status: res.Local.Status, headers: res.Local.Headers, body: res.Local.Body, path: path, record: record}
	case res.Forwarded:
		return outcome{forwarded: true, headers: res.Headers, body: res.Body, response: res.Response, path: path, record: record}
	}
	return outcome{paused: true, path: path, record: record}
}

func (w *wasmVM) counter(t testing.TB, name string) uint64 {
	m, ok := w.vm.Metrics()[name]
	if !ok {
		t.Fatalf("counter %s not defined", name)
	}
	return m.Value
}

func (w *wasmVM) histogramLast(t testing.TB, name string) uint64 {
	m, ok := w.vm.Metrics()[name]
	if !ok || len(m.Samples) == 0 {
		t.Fatalf("histogram %s: nothing recorded", name)
	}
	return m.Samples[len(m.Samples)-1]
}

func (w *wasmVM) sharedData(_ testing.TB, key string) []byte {
	v, _, _ := w.shared.Get("", key)
	return v
}

func (w *wasmVM) logs() []string {
	var out []string
	for _, l := range w.vm.Logs() {
		out = append(out, l.Msg)
	}
	return out
}

func TestMain(m *testing.M) {
	// proxytest logs every callout body, and with it the one-time code; keep test output clean.
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// headerValue finds a header case-insensitively, as a client of the filter would.
func headerValue(headers [][2]string, name string) string {
	for _, kv := range headers {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}
