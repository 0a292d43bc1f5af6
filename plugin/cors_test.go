package main

import (
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

const appOrigin = "https://app.example.com" // a web origin of acme-web in testConfig

func preflight(origin string, extra ...[2]string) request {
	return request{method: "OPTIONS", authority: "acme.auth.example.com",
		headers: append([][2]string{{"origin", origin}, {"access-control-request-method", "POST"},
			{"access-control-request-headers", "content-type"}}, extra...)}
}

// checkCORS asserts the CORS headers of an allowed origin, or their absence.
func checkCORS(t *testing.T, headers [][2]string, origin string) {
	t.Helper()
	if got := headerValue(headers, "access-control-allow-origin"); got != origin {
		t.Errorf("access-control-allow-origin %q, want %q", got, origin)
	}
	if origin != "" && headerValue(headers, "vary") != "origin" {
		t.Errorf("vary %q", headerValue(headers, "vary"))
	}
}

// TestPreflight: SPEC 13's preflight, per tenant; nothing goes upstream.
func TestPreflight(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		got := vm.do(t, preflight(appOrigin))
		if got.status != 204 || got.forwarded {
			t.Fatalf("status %d forwarded %v", got.status, got.forwarded)
		}
		for k, want := range map[string]string{
			"access-control-allow-origin": appOrigin, "access-control-allow-methods": "POST",
			"access-control-allow-headers": "content-type, auth0-client", "access-control-max-age": "600", "vary": "origin",
		} {
			if v := headerValue(got.headers, k); v != want {
				t.Errorf("%s = %q, want %q", k, v, want)
			}
		}
		// Another client's origin in the same tenant is allowed too: the client is not known yet.
		if got := vm.do(t, preflight("https://magic.example.com")); got.status != 204 {
			t.Errorf("other client's origin: %d", got.status)
		}
		for name, r := range map[string]request{
			"unknown origin":      preflight("https://evil.example"),
			"origin differs":      preflight("https://app.example.com:8443"),
			"other tenant":        preflight(appOrigin, [2]string{"x-tenant-id", "globex"}),
			"no tenant":           {method: "OPTIONS", headers: [][2]string{{"origin", appOrigin}, {"access-control-request-method", "POST"}}},
			"unconfigured tenant": {method: "OPTIONS", authority: "initech.auth.example.com", headers: [][2]string{{"origin", appOrigin}, {"access-control-request-method", "POST"}}},
		} {
			got := vm.do(t, r)
			checkError(t, got, filter.ErrOriginNotAllowed, "")
			checkCORS(t, got.headers, "")
			if got.forwarded {
				t.Errorf("%s: forwarded", name)
			}
		}
		// An OPTIONS that is no preflight for POST is still the filter's (SPEC 3): 204 with the
		// methods of the path, no CORS headers, nothing upstream; on the redirect path, 405.
		for _, r := range []request{
			{method: "OPTIONS", authority: "acme.auth.example.com"},
			{method: "OPTIONS", authority: "acme.auth.example.com", headers: [][2]string{{"origin", appOrigin}, {"access-control-request-method", "PUT"}}},
		} {
			got := vm.do(t, r)
			if got.status != 204 || got.forwarded || headerValue(got.headers, "allow") != "POST, OPTIONS" || len(got.body) != 0 {
				t.Errorf("%v: %d forwarded %v headers %v", r.headers, got.status, got.forwarded, got.headers)
			}
			checkCORS(t, got.headers, "")
		}
		got = vm.do(t, request{method: "OPTIONS", path: "/passwordless/verify_redirect", authority: "acme.auth.example.com",
			headers: [][2]string{{"origin", appOrigin}, {"access-control-request-method", "POST"}}})
		checkError(t, got, filter.ErrMethodNotAllowed, "")
		checkCORS(t, got.headers, "")
		if len(h.callouts()) != 0 {
			t.Error("a preflight called the user store")
		}
	})
}

// TestCrossOriginVerify: SPEC 13 for the POST, row by row, in both modes.
func TestCrossOriginVerify(t *testing.T) {
	origin := func(o string) [2]string { return [2]string{"origin", o} }
	cases := []struct {
		name   string
		req    request
		want   filter.ErrorKind // when not wantOK
		wantOK bool
		cors   string // the allowed origin expected on the answer
	}{
		{name: "allowed", req: acme(validBody, origin(appOrigin)), wantOK: true, cors: appOrigin},
		{name: "same origin has no CORS", req: acme(validBody, origin("https://login.example.com")), wantOK: true},
		{name: "no origin has no CORS", req: acme(validBody), wantOK: true},
		{name: "client's origin not allowed", req: acme(validBody, origin("https://magic.example.com")), want: filter.ErrOriginNotAllowed},
		{name: "unknown origin", req: acme(validBody, origin("https://evil.example")), want: filter.ErrOriginNotAllowed},
		{name: "unknown origin, row 7 first", req: acme(`{"client_id":"nope"}`, origin("https://evil.example")), want: filter.ErrInvalidClient},
		{name: "unknown origin, row 6 first", req: acme(`{}`, origin("https://evil.example")), want: filter.ErrMissingClientID},
		{name: "row 1 has no CORS", req: request{headers: [][2]string{origin(appOrigin)}, body: validBody}, want: filter.ErrNoTenant},
		{name: "row 3 with CORS", req: acme(validBody, origin(appOrigin), [2]string{"content-length", "99999"}), want: filter.ErrTooLarge, cors: appOrigin},
		{name: "row 4 with CORS", req: acme(validBody, origin(appOrigin), [2]string{"content-type", "text/plain"}), want: filter.ErrInvalidBody, cors: appOrigin},
		{name: "row 5 with CORS", req: acme(`{"a.b":1}`, origin(appOrigin)), want: filter.ErrDottedField, cors: appOrigin},
		{name: "row 6 with another client's origin", req: acme(`{}`, origin("https://magic.example.com")), want: filter.ErrMissingClientID, cors: "https://magic.example.com"},
		{name: "row 7 with CORS", req: acme(`{"client_id":"nope"}`, origin(appOrigin)), want: filter.ErrInvalidClient, cors: appOrigin},
		{name: "row 8 with CORS", req: acme(`{"client_id":"acme-web","connection":"email","otp":"1"}`, origin(appOrigin)), want: filter.ErrMissingUsername, cors: appOrigin},
		{name: "row 15 with CORS", req: acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"1"}`, origin(appOrigin)), want: filter.ErrConnectionDisabled, cors: appOrigin},
	}
	bothModes(t, func(t *testing.T, _ *harness, vm filterVM, mode string) {
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				req := c.req
				req.upstream = &wasmhost.UpstreamResponse{Status: 200, Headers: [][2]string{{"content-type", "text/plain"}}, Body: []byte("ok")}
				got := vm.do(t, req)
				headers := got.headers
				switch {
				case !c.wantOK:
					checkError(t, got, c.want, "")
				case mode == "forward":
					if !got.forwarded || got.response == nil {
						t.Fatalf("not forwarded: %d %s", got.status, got.body)
					}
					headers = got.response.Headers
				case got.status != 200:
					t.Fatalf("status %d %s", got.status, got.body)
				}
				checkCORS(t, headers, c.cors)
			})
		}
	})
}

// TestCrossOriginStoreAnswers: answers after the client is known carry the CORS headers.
func TestCrossOriginStoreAnswers(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": storeReply("401", `{"error":"invalid_user_password"}`)})
		got := vm.do(t, acme(validBody, [2]string{"origin", appOrigin}))
		checkError(t, got, filter.ErrWrongCode, "")
		checkCORS(t, got.headers, appOrigin)
	})
}

// TestUpstreamVary: in forward mode, the upstream's own vary is kept and origin added once.
func TestUpstreamVary(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(forwardConfig), map[string]wasmhost.Cluster{"userstore": okStore()})
		for vary, want := range map[string]string{"accept-encoding": "accept-encoding, origin", "Origin": "Origin"} {
			req := acme(validBody, [2]string{"origin", appOrigin})
			req.upstream = &wasmhost.UpstreamResponse{Status: 200, Headers: [][2]string{{"vary", vary}, {"access-control-allow-origin", "*"}}}
			got := vm.do(t, req)
			if got.response == nil {
				t.Fatalf("no response: %d", got.status)
			}
			if v := headerValue(got.response.Headers, "vary"); v != want {
				t.Errorf("vary %q, want %q", v, want)
			}
			if v := headerValue(got.response.Headers, "access-control-allow-origin"); v != appOrigin {
				t.Errorf("access-control-allow-origin %q", v)
			}
		}
	})
}

// TestRedirectHasNoCORS: SPEC 13, the redirect step is a top-level navigation.
func TestRedirectHasNoCORS(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		got := vm.do(t, redirectRequest(redirectQuery(nil), [2]string{"origin", appOrigin}))
		if got.status != 302 {
			t.Fatalf("status %d", got.status)
		}
		checkCORS(t, got.headers, "")
		got = vm.do(t, redirectRequest(redirectQuery(map[string]string{"client_id": ""}), [2]string{"origin", appOrigin}))
		checkError(t, got, filter.ErrMissingClientID, "")
		checkCORS(t, got.headers, "")
	})
}
