package wasmhost

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// specConfig is the plugin configuration example of SPEC section 2.
const specConfig = `{
  "verify_path": "/passwordless/verify",
  "max_request_bytes": 16384,
  "tenant": {"header": "x-tenant-id", "host_suffix": ".auth.example.com", "default": ""},
  "tenants": {"acme": {
    "connections": {
      "email": {"strategy": "email", "enabled": true},
      "sms": {"strategy": "sms", "enabled": false},
      "Username-Password-Authentication": {"strategy": "auth0", "enabled": true}},
    "clients": {"acme-web": {"connections": ["email", "sms", "Username-Password-Authentication"]}}}},
  "user_store": {"cluster": "userstore", "authority": "userstore.internal", "path": "/v1/passwordless/verify", "timeout_ms": 1000},
  "attack_protection": {"max_attempts": 10, "window_seconds": 900},
  "on_success": {"mode": "respond", "pass_headers": ["set-cookie"],
    "identity_headers": {"x-passwordless-user-id": "user_id", "x-passwordless-tenant": "tenant"}}
}`

func TestPluginLifecycle(t *testing.T) {
	ctx := context.Background()
	m := module(t, "plugin")
	for _, want := range []string{"_initialize", "proxy_abi_version_0_2_0", "proxy_on_memory_allocate", "proxy_on_request_headers"} {
		if !slices.Contains(m.Exports(), want) {
			t.Errorf("plugin.wasm does not export %s: %v", want, m.Exports())
		}
	}
	for _, imp := range m.Imports() {
		mod, name, _ := strings.Cut(imp, ".")
		if mod == wasiModule && !slices.Contains(EnvoyWASI, name) {
			t.Errorf("Compile accepted %s", imp)
		}
	}
	if !slices.IsSorted(m.Imports()) || !slices.IsSorted(m.Exports()) || !slices.IsSorted(EnvoyWASI) {
		t.Error("Imports/Exports/EnvoyWASI must be sorted")
	}

	var logged []string
	vm, err := m.NewVM(ctx, Config{
		PluginConfig: []byte(specConfig),
		RootID:       "passwordless_verify",
		Clusters:     map[string]Cluster{"userstore": ClusterFunc(func(context.Context, *CalloutRequest) (*CalloutResponse, error) { return nil, errors.New("unused") })},
		Log:          func(_ LogLevel, msg string) { logged = append(logged, msg) },
	})
	if err != nil {
		t.Fatalf("NewVM with the SPEC example configuration: %v", err)
	}
	for _, req := range []Request{
		{Method: "GET", Path: "/something/else", Headers: [][2]string{{"x-passwordless-user-id", "forged"}}},
		{Method: "POST", Path: "/passwordless/verify", Headers: [][2]string{{"content-type", "application/json"}}, Body: []byte(`{}`), ChunkSize: 1},
	} {
		res, err := vm.Do(ctx, req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.Path, err)
		}
		if res.Paused {
			t.Errorf("%s %s: the stream was left paused: %v", req.Method, req.Path, res)
		}
	}
	if err := vm.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vm.Logs()) != len(logged) {
		t.Errorf("Config.Log saw %d lines, Logs() has %d", len(logged), len(vm.Logs()))
	}
	if err := vm.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Do(ctx, Request{}); err == nil {
		t.Error("Do on a closed VM succeeded")
	}
}

func TestPluginBadConfigFailsToStart(t *testing.T) {
	_, err := module(t, "plugin").NewVM(context.Background(), Config{PluginConfig: []byte(`{"no_such_key": 1}`)})
	if !errors.Is(err, ErrPluginStart) {
		t.Fatalf("NewVM with an unknown key: %v, want ErrPluginStart", err)
	}
	if !strings.Contains(err.Error(), "last error log:") {
		t.Errorf("the error does not quote the plugin's log: %v", err)
	}
}

func TestProbeLifecycleOrder(t *testing.T) {
	ctx := context.Background()
	vm := probe(t, Config{VMConfig: []byte("vm-config"), RootID: "myroot"})
	if got := logsWith(vm, "vm_start"); len(got) != 1 || !strings.Contains(got[0], `config="vm-config"`) {
		t.Errorf("vm_start did not read the VM configuration: %q", got)
	}
	// The plugin configuration is only readable while the plugin starts (temp_plugin_).
	if got := logsWith(vm, "configured root=1 plugin_config_after_read=0"); len(got) != 1 {
		t.Errorf("configure log: %q", vm.Logs())
	}
	res, err := vm.Do(ctx, Request{Path: "/p", SourceAddress: "203.0.113.7:5678"})
	if err != nil || !res.Forwarded {
		t.Fatalf("Do: %v %v", res, err)
	}
	var order []string
	for _, l := range vm.Logs() {
		order = append(order, strings.Fields(l.Msg)[0])
	}
	want := []string{"vm_start", "configured", "headers", "log", "delete"}
	if !slices.Equal(order, want) {
		t.Errorf("callback order %v, want %v", order, want)
	}
	if got := logsWith(vm, "source=203.0.113.7:5678 root_id=myroot"); len(got) != 1 {
		t.Errorf("properties: %q", logsWith(vm, "headers"))
	}
	// On the root context nothing is effective after shutdown, and on_done runs before on_delete.
	if err := vm.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(vm.Logs())
	if n < 2 || !strings.HasPrefix(vm.Logs()[n-2].Msg, "done root proxy_done_now=1") || vm.Logs()[n-1].Msg != "delete ctx=1" {
		t.Errorf("shutdown: %v", vm.Logs()[n-2:])
	}
}

func TestConfigureFalse(t *testing.T) {
	_, err := module(t, "probe").NewVM(context.Background(), Config{PluginConfig: []byte("configure_fail=missing+tenants")})
	if !errors.Is(err, ErrPluginStart) {
		t.Fatalf("got %v, want ErrPluginStart", err)
	}
	if !strings.Contains(err.Error(), "probe: missing tenants") {
		t.Errorf("error does not include the last critical log line: %v", err)
	}
}

func TestVMStartFalse(t *testing.T) {
	_, err := module(t, "probe").NewVM(context.Background(), Config{VMConfig: []byte("fail")})
	if err == nil || errors.Is(err, ErrPluginStart) || !strings.Contains(err.Error(), "proxy_on_vm_start returned false") {
		t.Fatalf("got %v", err)
	}
}

func TestInitializeRestrictions(t *testing.T) {
	m := module(t, "probe")
	for call, want := range map[string]string{
		"define_metric": "env.proxy_define_metric called during _initialize",
		"sched_yield":   "wasi_snapshot_preview1.sched_yield called during _initialize",
	} {
		_, err := m.NewVM(context.Background(), Config{Env: map[string]string{"PROBE_INIT": call}})
		if !errors.Is(err, ErrVMFailed) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s during _initialize: %v", call, err)
		}
	}
	// Logging is allowed there.
	vm, err := m.NewVM(context.Background(), Config{Env: map[string]string{"PROBE_INIT": "log"}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close(context.Background())
	if len(logsWith(vm, "hello from init")) != 1 {
		t.Error("proxy_log during _initialize was lost")
	}
}

func TestUnknownImportsAreReported(t *testing.T) {
	_, err := Compile(context.Background(), guestWasm(t, "badimport"))
	if err == nil {
		t.Fatal("Compile accepted a module importing env.proxy_grpc_call")
	}
	for _, name := range []string{"env.proxy_grpc_call", "wasi_snapshot_preview1.fd_readdir"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestTrapKillsTheVM(t *testing.T) {
	ctx := context.Background()
	vm := probe(t, Config{}, "panic_header", "x-boom")
	if res, err := vm.Do(ctx, Request{}); err != nil || !res.Forwarded {
		t.Fatalf("healthy request: %v %v", res, err)
	}
	res, err := vm.Do(ctx, Request{Headers: [][2]string{{"x-boom", "1"}}})
	if !errors.Is(err, ErrVMFailed) {
		t.Fatalf("panicking request: %v", err)
	}
	if !strings.Contains(err.Error(), "probe panics on request") {
		t.Errorf("the error lacks the guest's panic message: %v", err)
	}
	// Envoy fails the stream closed with its own 503.
	if res == nil || res.Local == nil || res.Local.Status != 503 || res.Local.Details != "wasm_fail_stream" {
		t.Errorf("result of the failed stream: %v", res)
	}
	if vm.Err() == nil {
		t.Fatal("Err() is nil after a trap")
	}
	if _, err := vm.Do(ctx, Request{}); !errors.Is(err, ErrVMFailed) {
		t.Errorf("a later request: %v", err)
	}
	if _, err := vm.NewStream(Request{}); !errors.Is(err, ErrVMFailed) {
		t.Errorf("a later stream: %v", err)
	}
	if got := logsWith(vm, "panic: probe panics on request"); len(got) != 1 {
		t.Errorf("guest stderr not routed to the log: %v", vm.Logs())
	}
}

// TestSetProperty: set_property keeps the value in the stream's filter state under "wasm."
// and the path as sent, as Envoy does (its access log prints %FILTER_STATE(wasm.<name>:PLAIN)%);
// get_property reads a single name back, an attribute's path is not shadowed, and the root
// context has no filter state.
func TestSetProperty(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		set, key, get string
	}{
		{`rec={"a":"1"}`, "wasm.rec", `get="{\"a\":\"1\"}" get_status=0 source=127.0.0.1:50000`},
		{`source.address=forged`, "wasm.source\x00address", `get="127.0.0.1:50000" get_status=0 source=127.0.0.1:50000`},
	} {
		vm := probe(t, Config{}, "set_property", c.set)
		if got := logsWith(vm, "root set_property"); len(got) != 1 || got[0] != "root set_property status=1" {
			t.Errorf("%s on the root: %q, want NotFound", c.set, got)
		}
		res, err := vm.Do(ctx, Request{Path: "/p"})
		if err != nil {
			t.Fatal(err)
		}
		_, val, _ := strings.Cut(c.set, "=")
		if got := res.FilterState; len(got) != 1 || string(got[c.key]) != val {
			t.Errorf("%s: filter state %q, want %q at %q", c.set, got, val, c.key)
		}
		if got := logsWith(vm, "set_property status=0 "+c.get); len(got) != 1 {
			t.Errorf("%s: %q, want %q", c.set, logsWith(vm, "set_property"), c.get)
		}
	}
	res, err := probe(t, Config{}).Do(ctx, Request{Path: "/p"})
	if err != nil || res.FilterState != nil {
		t.Errorf("nothing set: filter state %q (%v)", res.FilterState, err)
	}
}
