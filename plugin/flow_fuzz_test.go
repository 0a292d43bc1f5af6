package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

var (
	fuzzOnce sync.Once
	fuzzHost proxytest.HostEmulator
)

// FuzzRequest drives whole requests (headers, then the body in chunks) through the filter.
// The invariant: the request either passes through untouched or gets exactly one well-formed
// JSON answer, the filter never panics, and no request is left paused.
func FuzzRequest(f *testing.F) {
	for _, c := range verifyCases() {
		if len(c.req.body) > 2048 {
			continue
		}
		ct := headerValue(c.req.headers, "content-type")
		f.Add("POST", "/passwordless/verify", headerValue(c.req.headers, "x-tenant-id"), ct, c.req.body, uint8(0))
	}
	f.Add("GET", "/passwordless/verify", "acme", "", "", uint8(0))
	f.Add("POST", "/passwordless/verify?x=1", "acme", "application/json", validBody, uint8(3))
	f.Fuzz(func(t *testing.T, method, path, tenant, contentType, body string, chunk uint8) {
		fuzzOnce.Do(func() {
			// One emulator for the whole fuzz process: proxytest allows one at a time.
			opt := proxytest.NewEmulatorOption().WithVMContext(&vmContext{}).WithPluginConfiguration([]byte(testConfig))
			fuzzHost, _ = proxytest.NewHostEmulator(opt)
			if fuzzHost.StartPlugin() != types.OnPluginStartStatusOK {
				t.Fatal("plugin did not start")
			}
		})
		vm := &nativeVM{host: fuzzHost, clusters: map[string]wasmhost.Cluster{"userstore": okStore()}}
		headers := [][2]string{{"x-tenant-id", tenant}, {"content-type", contentType}}
		req := request{method: method, path: path, headers: headers, body: body, chunk: int(chunk)}
		got := vm.do(t, req)
		// Judge by what the filter was shown: the harness fills in an empty method or path,
		// and proxytest trims the path, which the filter reads alone, as Envoy's codec has.
		ph := pseudoHeaders(req)
		method, path = ph[0][1], strings.TrimSpace(ph[1][1])
		handled := method == "POST" && (path == "/passwordless/verify" || strings.HasPrefix(path, "/passwordless/verify?"))
		switch {
		case got.paused:
			t.Fatal("request left paused")
		case got.forwarded:
			if handled {
				t.Fatal("a verify request went upstream in respond mode")
			}
			if string(got.body) != body {
				t.Fatal("a passed-through body was changed")
			}
		case !handled:
			t.Fatalf("a request the filter does not own was answered: %d", got.status)
		case got.status == 200:
			if string(got.body) != `{"user_id":"u1"}` {
				t.Fatalf("200 with %s", got.body)
			}
		default:
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if !utf8.Valid(got.body) || json.Unmarshal(got.body, &e) != nil || e.Error == "" || e.Description == "" {
				t.Fatalf("malformed error answer %d %q", got.status, got.body)
			}
		}
	})
}
