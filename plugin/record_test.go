package main

import (
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// withLogRequests is cfg with the info line of every handled request turned on.
func withLogRequests(cfg string) string {
	return strings.Replace(cfg, "{", `{"log_requests": true,`, 1)
}

// requestLines are the log_requests lines among the VM's logs.
func requestLines(vm filterVM) []string {
	var lines []string
	for _, l := range vm.logs() {
		if strings.HasPrefix(l, "passwordless_verify: tenant=") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestRecord: SPEC 10; every handled request leaves its record in the filter state Envoy's
// access log prints: verified, rejected with the client known or not, a preflight; a
// request the filter does not own leaves none.
func TestRecord(t *testing.T) {
	rid := func(id string) [2]string { return [2]string{"x-request-id", id} }
	long := `nope"` + strings.Repeat("x", 70)
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		for _, c := range []struct {
			name string
			req  request
			want string
		}{
			{"verified", acme(validBody, rid("r-1")),
				`{"tenant":"acme","client_id":"acme-web","connection":"email","outcome":"verified","request_id":"r-1"}`},
			{"client known", acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"1"}`, rid("r-2")),
				`{"tenant":"acme","client_id":"acme-web","connection":"sms","outcome":"bad.connection","request_id":"r-2"}`},
			{"no client", acme(`{"connection":"email","username":"a","otp":"1"}`, rid("r-3")),
				`{"tenant":"acme","client_id":"","connection":"email","outcome":"invalid_request","request_id":"r-3"}`},
			{"unknown client, cut short", acme(`{"client_id":"nope\"`+strings.Repeat("x", 70)+`","connection":"email"}`, rid("r-4")),
				`{"tenant":"acme","client_id":"` + strings.ReplaceAll(long[:64], `"`, `\"`) + `...","connection":"email","outcome":"unauthorized_client","request_id":"r-4"}`},
			{"nothing known", request{headers: [][2]string{rid("r-5")}, body: validBody},
				`{"tenant":"","client_id":"","connection":"","outcome":"bad.tenant","request_id":"r-5"}`},
			{"preflight", preflight(appOrigin, rid("r-6")),
				`{"tenant":"acme","client_id":"","connection":"","outcome":"preflight","request_id":"r-6"}`},
			{"preflight refused", preflight("https://evil.example", rid("r-7")),
				`{"tenant":"acme","client_id":"","connection":"","outcome":"access_denied","request_id":"r-7"}`},
			{"pass-through", request{method: "GET", path: "/x", headers: [][2]string{rid("r-8")}}, ""},
			{"other OPTIONS", request{method: "OPTIONS", headers: [][2]string{rid("r-9")}},
				`{"tenant":"","client_id":"","connection":"","outcome":"options","request_id":"r-9"}`},
		} {
			if got := vm.do(t, c.req); got.record != c.want {
				t.Errorf("%s: record\n%s\nwant\n%s", c.name, got.record, c.want)
			}
		}
	})
}

// TestLogRequests: SPEC 10; no info line per request by default, and with log_requests one
// per handled request, with the record's fields and none for traffic the filter does not own.
func TestLogRequests(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		run := func(cfg string) []string {
			vm := h.mustStart(t, cfg, map[string]wasmhost.Cluster{"userstore": okStore()})
			vm.do(t, request{method: "GET", path: "/x"})
			vm.do(t, acme(validBody, [2]string{"x-request-id", "r-1"}))
			vm.do(t, acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"1"}`, [2]string{"x-request-id", "r-2"}))
			return requestLines(vm)
		}
		if lines := run(testConfig); len(lines) != 0 {
			t.Errorf("log lines without log_requests: %q", lines)
		}
		lines := run(withLogRequests(testConfig))
		want := []string{
			`passwordless_verify: tenant="acme" client="acme-web" connection="email" outcome=verified request_id="r-1"`,
			`passwordless_verify: tenant="acme" client="acme-web" connection="sms" outcome=bad.connection request_id="r-2"`,
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("log lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	})
}
