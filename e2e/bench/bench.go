// Package bench holds what the performance measurements share: the plugin configuration, the
// three request paths that our filter (build/plugin.wasm) and the floor filter
// (build/floor.wasm, plugin/floor) are both measured on, and the user store's answer. Its
// benchmarks run both filters in the wazero host (e2e/wasmhost); e2e/cmd/benchenvoy runs them
// in the real Envoy. See "Performance: how it is measured" in e2e/README.md.
package bench

import (
	"context"
	"strings"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// Config is the plugin configuration of every measurement: SPEC section 2's example. The floor
// ignores it.
const Config = `{
  "verify_path": "/passwordless/verify",
  "max_request_bytes": 16384,
  "tenant": {"header": "x-tenant-id", "host_suffix": ".auth.example.com"},
  "tenants": {
    "acme": {
      "connections": {
        "email": {"strategy": "email", "enabled": true},
        "sms": {"strategy": "sms", "enabled": false},
        "Username-Password-Authentication": {"strategy": "auth0", "enabled": true}
      },
      "clients": {
        "acme-web": {"connections": ["email", "sms", "Username-Password-Authentication"]}
      }
    }
  },
  "user_store": {"cluster": "userstore", "authority": "userstore.internal", "path": "/v1/passwordless/verify", "timeout_ms": 1000},
  "attack_protection": {"max_attempts": 10, "window_seconds": 900},
  "on_success": {
    "mode": "respond",
    "pass_headers": ["set-cookie"],
    "identity_headers": {"x-passwordless-user-id": "user_id", "x-passwordless-tenant": "tenant"}
  }
}`

// UnprotectedConfig is Config with SPEC 7's attack protection off: measured beside Config, it
// shows what the shared-data counting costs on each path.
var UnprotectedConfig = strings.Replace(Config, `"attack_protection": {"max_attempts": 10, "window_seconds": 900}`,
	`"attack_protection": {"max_attempts": 0, "ip_max_failures": 0}`, 1)

// StoreAnswer is the user store's answer on the verified path: 200 with this body.
const StoreAnswer = `{"user_id":"u1"}`

// StoreCluster is the user store in our wasm host: it answers every call with StoreAnswer.
func StoreCluster() wasmhost.Cluster {
	return wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		return &wasmhost.CalloutResponse{
			Headers: [][2]string{{":status", "200"}, {"content-type", "application/json"}},
			Body:    []byte(StoreAnswer),
		}, nil
	})
}

// Path is one kind of request, sent unchanged to every filter measured.
type Path struct {
	Name    string
	Method  string
	Path    string
	Headers [][2]string // lower-case names, without pseudo-headers
	Body    string
	// Status is what our filter and the floor answer (pass-through: what the upstream answers).
	Status int
}

// browserHeaders are the 8 headers of a typical browser GET.
var browserHeaders = [][2]string{
	{"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
	{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	{"accept-language", "en-US,en;q=0.5"},
	{"accept-encoding", "gzip, deflate, br"},
	{"referer", "https://acme.auth.example.com/login"},
	{"cookie", "session=4f2a9c1e7b3d8a6f; theme=dark"},
	{"sec-fetch-dest", "document"},
	{"sec-fetch-mode", "navigate"},
}

// Paths are the three measured paths, in report order:
//   - rejected: a verify request for a client the tenant does not have, 403 unauthorized_client
//     (SPEC row 7), answered without a callout;
//   - verified: a valid verify request, one user store callout answered 200, then 200;
//   - passthrough: a GET with 8 typical browser headers, which goes upstream.
//
// The floor tells the verified path from the rejected one by the header x-floor-path:
// verified, which our filter ignores.
func Paths() []Path {
	json := [][2]string{{"x-tenant-id", "acme"}, {"content-type", "application/json"}}
	return []Path{
		{
			Name: "rejected", Method: "POST", Path: "/passwordless/verify", Headers: json,
			Body:   `{"client_id":"other-client","connection":"email","username":"a@example.com","otp":"123456"}`,
			Status: 403,
		},
		{
			Name: "verified", Method: "POST", Path: "/passwordless/verify",
			Headers: append(append([][2]string(nil), json...), [2]string{"x-floor-path", "verified"}),
			Body:    `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`,
			Status:  200,
		},
		{Name: "passthrough", Method: "GET", Path: "/userinfo", Headers: browserHeaders, Status: 200},
	}
}
