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
	fuzzVM   *nativeVM
)

// FuzzRequest drives whole requests (headers, then the body in chunks) through the filter:
// the verify POST, the redirect step's GET and the CORS preflight among them. The invariant:
// the request either passes through untouched or gets exactly one well-formed answer (JSON,
// a redirect that carries no code, or an empty 204), the filter never panics, and no request
// is left paused.
func FuzzRequest(f *testing.F) {
	for _, c := range verifyCases() {
		if len(c.req.body) > 2048 {
			continue
		}
		ct := headerValue(c.req.headers, "content-type")
		f.Add("POST", "/passwordless/verify", headerValue(c.req.headers, "x-tenant-id"), ct, c.req.body, uint8(0), "")
	}
	f.Add("GET", "/passwordless/verify", "acme", "", "", uint8(0), "")
	f.Add("POST", "/passwordless/verify?x=1", "acme", "application/json", validBody, uint8(3), "https://app.example.com")
	f.Add("GET", "/passwordless/verify_redirect?client_id=acme-web&response_type=token&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback"+
		"&connection=email&email=a%40example.com&verification_code=424242&state=s", "acme", "", "", uint8(0), "")
	f.Add("OPTIONS", "/passwordless/verify", "acme", "", "", uint8(0), "https://app.example.com")
	f.Add("OPTIONS", "/passwordless/verify", "acme", "", "", uint8(0), "")
	f.Add("PUT", "/passwordless/verify", "acme", "application/json", validBody, uint8(0), "")
	f.Add("HEAD", "/passwordless/verify_redirect?otp=1", "", "", "", uint8(0), "")
	f.Add("POST", "/Passwordless/Verify;x=1/", "acme", "application/json", validBody, uint8(0), "")
	f.Add("GET", "/passwordless/%76erify_redirect?otp=1", "acme", "", "", uint8(0), "")
	f.Fuzz(func(t *testing.T, method, path, tenant, contentType, body string, chunk uint8, origin string) {
		fuzzOnce.Do(func() {
			// One emulator for the whole fuzz process: proxytest allows one at a time.
			opt := proxytest.NewEmulatorOption().WithVMContext(&vmContext{}).WithPluginConfiguration([]byte(testConfig))
			host, _ := proxytest.NewHostEmulator(opt)
			if host.StartPlugin() != types.OnPluginStartStatusOK {
				t.Fatal("plugin did not start")
			}
			fuzzVM = newNativeVM(host, map[string]wasmhost.Cluster{"userstore": okStore()})
		})
		vm := fuzzVM
		headers := [][2]string{{"x-tenant-id", tenant}, {"content-type", contentType}}
		if origin != "" {
			headers = append(headers, [2]string{"origin", origin}, [2]string{"access-control-request-method", "POST"})
		}
		req := request{method: method, path: path, headers: headers, body: body, chunk: int(chunk)}
		got := vm.do(t, req)
		// Judge by what the filter was shown: the harness fills in an empty method or path,
		// and proxytest trims the path, which the filter reads alone, as Envoy's codec has.
		ph := pseudoHeaders(req)
		method, path = ph[0][1], strings.TrimSpace(ph[1][1])
		at := func(p string) bool { return path == p || strings.HasPrefix(path, p+"?") }
		ours := at("/passwordless/verify") || at("/passwordless/verify_redirect")
		post := method == "POST" && at("/passwordless/verify")
		redirect := method == "GET" && at("/passwordless/verify_redirect")
		options := method == "OPTIONS" && at("/passwordless/verify")
		preflight := options && origin != ""
		switch {
		case got.paused:
			t.Fatal("request left paused")
		case got.forwarded:
			if ours {
				t.Fatal("a request on the filter's path went upstream in respond mode")
			}
			if string(got.body) != body {
				t.Fatal("a passed-through body was changed")
			}
		case ours && !post && !redirect && !options:
			// The filter owns its paths for every method (SPEC 3).
			allow := map[bool]string{true: "POST, OPTIONS", false: "GET"}[at("/passwordless/verify")]
			if got.status != 405 || headerValue(got.headers, "allow") != allow ||
				string(got.body) != `{"error":"invalid_request","error_description":"method not allowed"}` {
				t.Fatalf("%s on the filter's path: %d %v %s", method, got.status, got.headers, got.body)
			}
		case !ours:
			// A lookalike (FuzzRoute judges which paths are): 404 whatever the method.
			if got.status != 404 || string(got.body) != `{"error":"invalid_request","error_description":"unknown path"}` {
				t.Fatalf("a request the filter does not own was answered: %d %s", got.status, got.body)
			}
		case got.status == 204 && options && !preflight:
			if len(got.body) != 0 || headerValue(got.headers, "allow") != "POST, OPTIONS" {
				t.Fatalf("an OPTIONS that is no preflight: %v %q", got.headers, got.body)
			}
		case got.status == 200 && post:
			if string(got.body) != `{"user_id":"u1"}` {
				t.Fatalf("200 with %s", got.body)
			}
		case got.status == 302 && redirect:
			loc := headerValue(got.headers, "location")
			for _, code := range []string{"verification_code=", "otp=", "password="} {
				if strings.Contains(loc, code) {
					t.Fatalf("redirect carries a code parameter: %q", loc)
				}
			}
			if !strings.HasPrefix(loc, "https://app.example.com/callback") && !strings.HasPrefix(loc, "http://127.0.0.1:3000/cb?x=1") &&
				!strings.HasPrefix(loc, "https://magic.example.com/cb") {
				t.Fatalf("redirect to a URL that is no client's callback: %q", loc)
			}
		case got.status == 204 && preflight:
			if len(got.body) != 0 {
				t.Fatalf("204 with a body %q", got.body)
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
