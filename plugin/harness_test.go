package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// The harness runs every plugin test twice: natively with the SDK's proxytest emulator, and on
// the built build/plugin.wasm in our wazero host. Tests see only request and outcome.

type request struct {
	method, path, authority string
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
}

type filterVM interface {
	do(t testing.TB, r request) outcome
	counter(t testing.TB, name string) uint64
	// histogramLast is the last value recorded in a histogram.
	histogramLast(t testing.TB, name string) uint64
	logs() []string
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
	return [][2]string{{":method", method}, {":path", path}, {":authority", authority}, {":scheme", "https"}}
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
	return &nativeVM{host: host, clusters: clusters}, nil
}

func (n *nativeVM) do(t testing.TB, r request) outcome {
	t.Helper()
	host := n.host
	src := r.source
	if src == "" {
		src = "127.0.0.1:50000"
	}
	if err := host.SetProperty([]string{"source", "address"}, []byte(src)); err != nil {
		t.Fatal(err)
	}
	id := host.InitializeHttpContext()
	defer host.CompleteHttpContext(id)
	noBody := r.body == "" && r.trailers == nil
	host.CallOnRequestHeaders(id, append(pseudoHeaders(r), r.headers...), noBody)
	// proxytest shows only the current chunk once the filter continues, so the harness keeps
	// what went upstream chunk by chunk; a body held back (paused) goes when resumed.
	var sent []byte
	held := false
	if !noBody {
		parts := chunks(r.body, r.chunk)
		for i, c := range parts {
			if host.GetSentLocalResponse(id) != nil {
				break
			}
			held = host.CallOnRequestBody(id, []byte(c), i == len(parts)-1 && r.trailers == nil) != types.ActionContinue
			if !held {
				sent = append(sent, host.GetCurrentRequestBody(id)...)
			}
		}
		if r.trailers != nil && host.GetSentLocalResponse(id) == nil {
			host.CallOnRequestTrailers(id, r.trailers)
		}
	}
	// Deliver user store answers until none is pending, as Envoy's event loop would.
	for done := 0; ; {
		attrs := host.GetCalloutAttributesFromContext(id)
		if done == len(attrs) {
			break
		}
		for _, a := range attrs[done:] {
			n.deliver(a)
		}
		done = len(attrs)
	}
	path := headerValue(host.GetCurrentRequestHeaders(id), ":path")
	if lr := host.GetSentLocalResponse(id); lr != nil {
		return outcome{status: lr.StatusCode, headers: lr.Headers, body: lr.Data, path: path}
	}
	if host.GetCurrentHttpStreamAction(id) == types.ActionContinue {
		if held {
			sent = append(sent, host.GetCurrentRequestBody(id)...)
		}
		o := outcome{forwarded: true, headers: host.GetCurrentRequestHeaders(id), body: sent, path: path}
		if up := r.upstream; up != nil {
			status := [][2]string{{":status", strconv.Itoa(int(up.Status))}}
			host.CallOnResponseHeaders(id, append(status, up.Headers...), len(up.Body) == 0)
			o.response = &wasmhost.UpstreamResponse{Status: up.Status, Body: up.Body}
			for _, kv := range host.GetCurrentResponseHeaders(id) {
				if kv[0] != ":status" {
					o.response.Headers = append(o.response.Headers, kv)
				}
			}
		}
		return o
	}
	return outcome{paused: true, path: path}
}

// deliver runs one callout against its cluster. proxytest accepts any cluster name, so an
// unknown one is delivered as a failed call, which the filter must treat like Envoy's
// BadArgument: a 500.
func (n *nativeVM) deliver(a proxytest.HttpCalloutAttribute) {
	c, ok := n.clusters[a.Upstream]
	if !ok {
		n.host.CallOnHttpCallResponse(a.CalloutID, nil, nil, nil)
		return
	}
	// proxytest does not record the callout timeout; the default timeout_ms stands in.
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeoutMS*time.Millisecond)
	defer cancel()
	resp, err := c.RoundTrip(ctx, &wasmhost.CalloutRequest{Headers: a.Headers, Body: a.Body, Trailers: a.Trailers})
	if err != nil {
		n.host.CallOnHttpCallResponse(a.CalloutID, nil, nil, nil)
		return
	}
	n.host.CallOnHttpCallResponse(a.CalloutID, resp.Headers, resp.Trailers, resp.Body)
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
	moduleOnce sync.Once
	module     *wasmhost.Module
	moduleErr  error
)

func wasmModule(t testing.TB) *wasmhost.Module {
	t.Helper()
	moduleOnce.Do(func() {
		path := filepath.Join("..", "build", "plugin.wasm")
		wasm, err := os.ReadFile(path)
		if err != nil {
			moduleErr = fmt.Errorf("%w (run make build)", err)
			return
		}
		module, moduleErr = wasmhost.Compile(context.Background(), wasm)
	})
	if moduleErr != nil {
		t.Fatalf("plugin.wasm: %v", moduleErr)
	}
	return module
}

type wasmVM struct{ vm *wasmhost.VM }

func startWasm(t testing.TB, cfg string, clusters map[string]wasmhost.Cluster, shared *wasmhost.SharedData) (*wasmVM, error) {
	t.Helper()
	vm, err := wasmModule(t).NewVM(context.Background(), wasmhost.Config{
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
	return &wasmVM{vm: vm}, nil
}

func (w *wasmVM) do(t testing.TB, r request) outcome {
	t.Helper()
	ph := pseudoHeaders(r)
	res, err := w.vm.Do(context.Background(), wasmhost.Request{
		Method:        ph[0][1],
		Path:          ph[1][1],
		Authority:     ph[2][1],
		Scheme:        "https",
		Headers:       r.headers,
		Body:          []byte(r.body),
		ChunkSize:     r.chunk,
		SourceAddress: r.source,
		Trailers:      r.trailers,
		Upstream:      upstreamOf(r),
	})
	if err != nil {
		t.Fatalf("wasm VM: %v", err)
	}
	path := headerValue(res.RequestHeaders, ":path")
	switch {
	case res.Local != nil:
		return outcome{status: res.Local.Status, headers: res.Local.Headers, body: res.Local.Body, path: path}
	case res.Forwarded:
		return outcome{forwarded: true, headers: res.Headers, body: res.Body, response: res.Response, path: path}
	}
	return outcome{paused: true, path: path}
}

func upstreamOf(r request) func(context.Context, *wasmhost.Result) (*wasmhost.UpstreamResponse, error) {
	if r.upstream == nil {
		return nil
	}
	return func(context.Context, *wasmhost.Result) (*wasmhost.UpstreamResponse, error) { return r.upstream, nil }
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
