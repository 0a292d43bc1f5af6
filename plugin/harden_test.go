package main

import (
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// Issue 17's rules (SPEC 3, 4, 5, 9, 12, 13), natively and on plugin.wasm.

// TestFilterPathsEveryMethod: SPEC 3; the filter owns its paths for every method (405 with
// allow) and refuses their lookalikes for every method (404), before the tenant (no tenant
// header here), with the code out of :path; nothing goes upstream or to the store.
func TestFilterPathsEveryMethod(t *testing.T) {
	redirectQ := "?" + redirectQuery(nil)
	bothModes(t, func(t *testing.T, h *harness, vm filterVM, mode string) {
		for _, c := range []struct {
			method, path string
			status       uint32
			allow        string
		}{
			{"PUT", "/passwordless/verify", 405, "POST, OPTIONS"},
			{"PATCH", "/passwordless/verify", 405, "POST, OPTIONS"},
			{"GET", "/passwordless/verify?otp=123456", 405, "POST, OPTIONS"},
			{"HEAD", "/passwordless/verify", 405, "POST, OPTIONS"},
			{"HEAD", "/passwordless/verify_redirect" + redirectQ, 405, "GET"},
			{"POST", "/passwordless/verify_redirect" + redirectQ, 405, "GET"},
			{"PUT", "/passwordless/verify_redirect", 405, "GET"},
			{"POST", "/Passwordless/Verify", 404, ""},
			{"POST", "/passwordless/verify/", 404, ""},
			{"POST", "/passwordless/verify;a=b", 404, ""},
			{"OPTIONS", "/PASSWORDLESS/VERIFY", 404, ""},
			{"GET", "/passwordless/verify_redirect/" + redirectQ, 404, ""},
			{"GET", "/passwordless/%56erify_redirect;x" + redirectQ, 404, ""},
		} {
			got := vm.do(t, request{method: c.method, path: c.path, body: validBody,
				headers: [][2]string{{"content-type", "application/json"}}})
			name := mode + " " + c.method + " " + c.path
			if got.forwarded || got.status != c.status || headerValue(got.headers, "allow") != c.allow {
				t.Errorf("%s: %d forwarded %v allow %q, want %d allow %q", name, got.status, got.forwarded,
					headerValue(got.headers, "allow"), c.status, c.allow)
				continue
			}
			text := map[uint32]string{404: "unknown path", 405: "method not allowed"}[c.status]
			checkSpecAnswer(t, got, c.status, "invalid_request", text)
			checkNoCodeInPath(t, got)
		}
		if n := len(h.callouts()); n != 0 {
			t.Errorf("%d store calls", n)
		}
		checkCounters(t, vm, map[string]uint64{"passwordless_verify.error.invalid_request": 13})
	})
}

// TestSemicolon: SPEC 4 and 12.1, the review's reproduction: a raw `;` in the redirect query
// or a form body is refused, so an upstream that splits on it cannot read another
// redirect_uri or field; encoded as %3B it is an ordinary character.
func TestSemicolon(t *testing.T) {
	const text = `";" is not a separator; encode it as %3B`
	bothModes(t, func(t *testing.T, h *harness, vm filterVM, mode string) {
		smuggled := redirectQuery(nil) + "&x=1;redirect_uri=https://evil.example/steal"
		checkSpecAnswer(t, vm.do(t, redirectRequest(smuggled)), 400, "invalid_request", text)
		form := [2]string{"content-type", "application/x-www-form-urlencoded"}
		checkSpecAnswer(t, vm.do(t, acme("client_id=acme-web&connection=email&username=a&otp=1;connection=sms", form)), 400, "invalid_request", text)
		if n := len(h.callouts()); n != 0 {
			t.Fatalf("%s: %d store calls", mode, n)
		}
		got := vm.do(t, redirectRequest(redirectQuery(map[string]string{"state": "a;b"})))
		if got.status != 302 && !got.forwarded {
			t.Errorf("%s: an encoded ';' in the query: %d %s", mode, got.status, got.body)
		}
		if got := vm.do(t, acme("client_id=acme-web&connection=email&username=a%3Bb&otp=1", form)); got.status != 200 && !got.forwarded {
			t.Errorf("%s: an encoded ';' in a form: %d %s", mode, got.status, got.body)
		}
	})
}

// TestTenantHeaderTwice: SPEC 5 row 2; the filter and the upstream must not read different
// tenants, on the POST, the redirect step and the preflight.
func TestTenantHeaderTwice(t *testing.T) {
	twice := [][2]string{{"x-tenant-id", "acme"}, {"x-tenant-id", "acme"}}
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		for name, r := range map[string]request{
			"POST":     {body: validBody, headers: twice},
			"redirect": {method: "GET", path: "/passwordless/verify_redirect?" + redirectQuery(nil), headers: twice},
			"other":    {body: validBody, headers: [][2]string{{"x-tenant-id", "acme"}, {"x-tenant-id", "globex"}}},
		} {
			checkError(t, vm.do(t, r), filter.ErrBadTenant, "the tenant header is given more than once")
			if n := len(h.callouts()); n != 0 {
				t.Fatalf("%s: %d store calls", name, n)
			}
		}
		// A preflight whose tenant cannot be known is refused like any other (SPEC 13).
		checkError(t, vm.do(t, preflight(appOrigin, twice...)), filter.ErrOriginNotAllowed, "")
	})
}

// TestOwnHTTPSOrigin: SPEC 13; behind a load balancer that ends TLS, :scheme is http while the
// page is https://:authority: that is the request's own origin, not a cross-origin call.
func TestOwnHTTPSOrigin(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		for origin, want := range map[string]uint32{
			"https://login.example.com": 200,
			"HTTP://Login.Example.com":  200, // :scheme://:authority, without regard to case
			"https://other.example.com": 403,
			"https://login.example.co":  403,
		} {
			r := acme(validBody, [2]string{"origin", origin})
			r.scheme, r.authority = "http", "login.example.com"
			got := vm.do(t, r)
			if got.status != want {
				t.Errorf("origin %s: %d %s, want %d", origin, got.status, got.body, want)
			}
			checkCORS(t, got.headers, "")
		}
	})
}

// TestStoreStatusLogged: SPEC 6 and issue 17's finding 9; a store answer the contract does not
// name is logged by its status first: Envoy's own 503 or 504 text is no answer of the store,
// and "not JSON" would send the operator the wrong way.
func TestStoreStatusLogged(t *testing.T) {
	for status, want := range map[string]string{
		"503": "user store answered 503 Service Unavailable",
		"504": "user store answered 504 Gateway Timeout",
		"418": `user store answered status \"418\"`,
	} {
		vmTest(t, func(t *testing.T, h *harness) {
			envoyText := storeReply(status, "upstream connect error or disconnect/reset before headers", [2]string{"content-type", "text/plain"})
			vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}`), map[string]wasmhost.Cluster{"userstore": envoyText})
			checkError(t, vm.do(t, acme(validBody)), filter.ErrServer, "")
			logs := strings.Join(vm.logs(), "\n")
			if !strings.Contains(logs, `reason="`+want+`"`) || strings.Contains(logs, "not JSON") {
				t.Errorf("%s: log\n%s\nwant the reason %q", status, logs, want)
			}
		})
	}
}

// TestIdentitySpellingsRemoved: SPEC 9, the review's finding 1; a header that a CGI, WSGI or
// Rack upstream reads as an identity header (`_` for `-`, any case) is removed from every
// request: passed through, and forwarded after a verification, where the forged one would
// ride along with the real one. With more spellings than it removes unseen, the filter reads
// the header map instead.
func TestIdentitySpellingsRemoved(t *testing.T) {
	const long = "x_very-long_identity-header_name" // x-very-long-identity-header-name: 32 spellings
	forged := [][2]string{{"x_passwordless_user_id", "forged"}, {"x-passwordless_user-id", "forged"}, {"X_Passwordless-User_Id", "forged"},
		{"x_passwordless_tenant", "forged"}, {"x-passwordless-tenant", "forged"}, {long, "forged?"}, {"x-keep_me", "kept"}}
	identities := `"x-passwordless-user-id": "user_id", "x-passwordless-tenant": "tenant"`
	for name, c := range map[string]struct {
		identities string
		longKept   bool
	}{
		"removed unseen": {identities, true},
		"map read":       {identities + `, "x-very-long-identity-header-name": "user_id"`, false},
	} {
		vmTest(t, func(t *testing.T, h *harness) {
			vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "on_success": {"mode": "forward", "identity_headers": {`+c.identities+`}}`),
				map[string]wasmhost.Cluster{"userstore": okStore()})
			for _, r := range []request{
				{method: "GET", path: "/userinfo", headers: forged},
				{method: "POST", path: "/passwordless/verify", body: validBody, headers: append([][2]string{{"x-tenant-id", "acme"}}, forged...)},
				{method: "GET", path: "/passwordless/verify_redirect?" + redirectQuery(nil), headers: append([][2]string{{"x-tenant-id", "acme"}}, forged...)},
			} {
				got := vm.do(t, r)
				where := name + " " + r.method + " " + r.path[:min(len(r.path), 30)]
				if !got.forwarded {
					t.Fatalf("%s: %d %s", where, got.status, got.body)
				}
				for _, kv := range got.headers {
					if kv[1] == "forged" || kv[1] == "forged?" && !c.longKept {
						t.Errorf("%s: the upstream sees %s: %s", where, kv[0], kv[1])
					}
				}
				if headerValue(got.headers, "x-keep_me") != "kept" || (headerValue(got.headers, long) == "forged?") != c.longKept {
					t.Errorf("%s: a header that is no identity header's spelling was removed: %v", where, got.headers)
				}
				if v := headerValue(got.headers, "x-passwordless-user-id"); r.path != "/userinfo" && v != "u1" {
					t.Errorf("%s: the real identity header is %q", where, v)
				}
			}
		})
	}
}
