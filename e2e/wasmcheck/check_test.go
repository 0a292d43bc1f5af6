package wasmcheck

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestBuiltPlugin pins the exports and imports of build/plugin.wasm: a new import is a new
// demand on Envoy and must be looked at, not slip in.
func TestBuiltPlugin(t *testing.T) {
	wasm, err := os.ReadFile("../../build/plugin.wasm")
	if err != nil {
		t.Fatalf("%v (run make build)", err)
	}
	m, err := Inspect(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(m); err != nil {
		t.Fatal(err)
	}
	wantImports := []string{
		"env.proxy_define_metric", "env.proxy_get_buffer_bytes",
		"env.proxy_get_header_map_pairs", "env.proxy_get_header_map_value", "env.proxy_get_property",
		"env.proxy_get_shared_data", "env.proxy_http_call", "env.proxy_increment_metric", "env.proxy_log",
		"env.proxy_record_metric", "env.proxy_remove_header_map_value", "env.proxy_replace_header_map_value",
		"env.proxy_send_local_response", "env.proxy_set_buffer_bytes", "env.proxy_set_effective_context",
		"env.proxy_set_shared_data", "env.proxy_continue_stream", "env.proxy_set_property",
	}
	for _, w := range wantImports {
		if !slices.Contains(m.Imports, w) {
			t.Errorf("missing import %s", w)
		}
	}
	for _, imp := range m.Imports {
		if strings.HasPrefix(imp, "env.") && !slices.Contains(wantImports, imp) {
			t.Errorf("unexpected host import %s", imp)
		}
	}
	for _, e := range m.Exports {
		if !strings.HasPrefix(e, "proxy_") && e != "_initialize" && e != "memory" {
			t.Errorf("unexpected export %s", e)
		}
	}
}

func TestCheckRejects(t *testing.T) {
	err := Check(Module{Exports: []string{"_start", "proxy_on_log"}, Imports: []string{"wasi_snapshot_preview1.sock_accept", "env.emscripten_x"}})
	for _, want := range []string{"missing export proxy_on_request_headers", "sock_accept", "env.emscripten_x",
		"export proxy_on_log is not one of the filter's callbacks"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v, want mention of %s", err, want)
		}
	}
}
