package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

const callback = "https://app.example.com/callback"

// redirectQuery is the query auth0.js's WebAuth.passwordlessVerify sends, with overrides:
// a value "" leaves the parameter out.
func redirectQuery(over map[string]string) string {
	v := url.Values{}
	for k, val := range map[string]string{
		"client_id": "acme-web", "response_type": "code", "redirect_uri": callback, "connection": "email",
		"email": "a@example.com", "verification_code": "123456", "state": "st/1 &", "nonce": "n-1", "auth0Client": "eyJuYW1lIjoiYXV0aDAuanMifQ==",
	} {
		v.Set(k, val)
	}
	for k, val := range over {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v.Encode()
}

func redirectRequest(query string, extra ...[2]string) request {
	return request{method: "GET", path: "/passwordless/verify_redirect?" + query, headers: append([][2]string{{"x-tenant-id", "acme"}}, extra...)}
}

// checkRedirectError asserts SPEC 12.3: 302 to the callback with the row's error,
// error_description and the state.
func checkRedirectError(t *testing.T, got outcome, base string, want errorKind, state string) {
	t.Helper()
	if got.status != 302 {
		t.Fatalf("status %d %s, want 302 (forwarded %v)", got.status, got.body, got.forwarded)
	}
	loc := headerValue(got.headers, "location")
	if !strings.HasPrefix(loc, base) {
		t.Fatalf("location %q is not on %q", loc, base)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	row := catalogue[want]
	if q.Get("error") != row.code {
		t.Errorf("error %q, want %q (%s)", q.Get("error"), row.code, loc)
	}
	if d := q.Get("error_description"); row.exact && d != row.text || !row.exact && (!strings.HasPrefix(d, row.text) || d == "") {
		t.Errorf("error_description %q, want %q", d, row.text)
	}
	if q.Get("state") != state || len(q["state"]) > 1 {
		t.Errorf("state %q, want %q", q["state"], state)
	}
	if headerValue(got.headers, "cache-control") != "no-store" {
		t.Errorf("cache-control %q", headerValue(got.headers, "cache-control"))
	}
}

// TestRedirectRows: SPEC 12 row by row, in respond and forward mode: JSON answers up to the
// redirect_uri check, redirects after it, and the code never left in :path.
func TestRedirectRows(t *testing.T) {
	json := func(want errorKind, detail string) func(*testing.T, outcome) {
		return func(t *testing.T, got outcome) { t.Helper(); checkError(t, got, want, detail) }
	}
	redirect := func(want errorKind) func(*testing.T, outcome) {
		return func(t *testing.T, got outcome) {
			t.Helper()
			checkRedirectError(t, got, callback+"?error=", want, "st/1 &")
		}
	}
	cases := []struct {
		name  string
		req   request
		check func(*testing.T, outcome)
	}{
		{"no tenant", request{method: "GET", path: "/passwordless/verify_redirect?" + redirectQuery(nil)}, json(errNoTenant, "")},
		{"unknown tenant", request{method: "GET", path: "/passwordless/verify_redirect?" + redirectQuery(nil), headers: [][2]string{{"x-tenant-id", "initech"}}}, json(errBadTenant, "initech")},
		{"param twice", redirectRequest(redirectQuery(nil) + "&client_id=acme-web"), json(errInvalidBody, `"client_id" is given twice`)},
		{"redirect_uri twice", redirectRequest(redirectQuery(nil) + "&redirect_uri=https%3A%2F%2Fevil.example"), json(errInvalidBody, `"redirect_uri"`)},
		{"code twice", redirectRequest(redirectQuery(nil) + "&verification_code=1"), json(errInvalidBody, `"verification_code"`)},
		{"bad escape", redirectRequest(redirectQuery(nil) + "&x=%zz"), json(errInvalidBody, "")},
		{"missing client_id", redirectRequest(redirectQuery(map[string]string{"client_id": ""})), json(errMissingClientID, "")},
		{"unknown client", redirectRequest(redirectQuery(map[string]string{"client_id": "globex-web"})), json(errInvalidClient, "")},
		{"missing redirect_uri", redirectRequest(redirectQuery(map[string]string{"redirect_uri": ""})), json(errMissingRedirectURI, "")},
		{"redirect_uri of another client", redirectRequest(redirectQuery(map[string]string{"redirect_uri": "https://magic.example.com/cb"})), json(errRedirectURINotAllowed, "")},
		{"redirect_uri prefix", redirectRequest(redirectQuery(map[string]string{"redirect_uri": callback + "/x"})), json(errRedirectURINotAllowed, "")},
		{"redirect_uri other query", redirectRequest(redirectQuery(map[string]string{"redirect_uri": callback + "?a=1"})), json(errRedirectURINotAllowed, "")},
		{"missing username", redirectRequest(redirectQuery(map[string]string{"email": ""})), redirect(errMissingUsername)},
		{"missing code", redirectRequest(redirectQuery(map[string]string{"verification_code": ""})), redirect(errMissingPassword)},
		{"missing connection", redirectRequest(redirectQuery(map[string]string{"connection": ""})), redirect(errMissingConnection)},
		{"connection of another tenant", redirectRequest(redirectQuery(map[string]string{"connection": "globex-email"})), redirect(errConnectionOtherTenant)},
		{"connection nowhere", redirectRequest(redirectQuery(map[string]string{"connection": "nope"})), redirect(errConnectionNotFound)},
		{"not passwordless", redirectRequest(redirectQuery(map[string]string{"connection": "Username-Password-Authentication"})), redirect(errNotPasswordless)},
		{"connection disabled", redirectRequest(redirectQuery(map[string]string{"connection": "sms"})), redirect(errConnectionDisabled)},
		{"connection not for client", redirectRequest(redirectQuery(map[string]string{"connection": "magic"})), redirect(errConnectionNotForClient)},
		{"no state", redirectRequest(redirectQuery(map[string]string{"state": "", "email": ""})), func(t *testing.T, got outcome) {
			checkRedirectError(t, got, callback+"?error=", errMissingUsername, "")
		}},
		{"callback with a query", redirectRequest(redirectQuery(map[string]string{"redirect_uri": "http://127.0.0.1:3000/cb?x=1", "email": ""})), func(t *testing.T, got outcome) {
			checkRedirectError(t, got, "http://127.0.0.1:3000/cb?x=1&error=", errMissingUsername, "st/1 &")
		}},
	}
	bothModes(t, func(t *testing.T, h *harness, vm filterVM, mode string) {
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				before := len(h.callouts())
				got := vm.do(t, c.req)
				c.check(t, got)
				if got.forwarded {
					t.Error("forwarded")
				}
				if len(h.callouts()) != before {
					t.Error("the user store was called")
				}
				checkNoCodeInPath(t, got)
			})
		}
	})
}

// bothModes runs f natively and on plugin.wasm, in respond and in forward mode, with a store
// that verifies every code.
func bothModes(t *testing.T, f func(t *testing.T, h *harness, vm filterVM, mode string)) {
	for _, mode := range []string{modeRespond, modeForward} {
		vmTest(t, func(t *testing.T, h *harness) {
			vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "on_success": {"mode": "`+mode+`"}`),
				map[string]wasmhost.Cluster{"userstore": okStore()})
			f(t, h, vm, mode)
		})
	}
}

// checkNoCodeInPath: SPEC 12.6, the access log and the upstream never see the code.
func checkNoCodeInPath(t *testing.T, got outcome) {
	t.Helper()
	q := got.path[strings.IndexByte(got.path, '?')+1:]
	vals, _ := url.ParseQuery(q)
	for _, k := range []string{"verification_code", "otp", "password"} {
		if _, ok := vals[k]; ok || strings.Contains(got.path, "123456") {
			t.Errorf(":path still has the code: %s", got.path)
		}
	}
}

// TestRedirectStoreAnswers: SPEC 12.3, the store's answers of SPEC 6 as redirects.
func TestRedirectStoreAnswers(t *testing.T) {
	for _, c := range []struct {
		name  string
		store wasmhost.Cluster
		want  errorKind
	}{
		{"wrong code", storeReply("401", `{"error":"invalid_user_password"}`), errWrongCode},
		{"blocked", storeReply("401", `{"error":"unauthorized"}`), errUserBlocked},
		{"access denied", storeReply("403", `{"error":"access_denied","error_description":"no"}`), errAccessDenied},
		{"bad connection", storeReply("404", `{"error":"bad.connection"}`), errStoreBadConnection},
		{"store limit", storeReply("429", `{"error":"too_many_attempts","error_description":"slow"}`), errStoreTooManyAttempts},
		{"store fault", storeReply("503", ""), errServer},
		{"redirect_params not an object", storeReply("200", `{"user_id":"u","redirect_params":"x"}`), errServer},
	} {
		vmTest(t, func(t *testing.T, h *harness) {
			vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": c.store})
			got := vm.do(t, redirectRequest(redirectQuery(nil)))
			checkRedirectError(t, got, callback+"?error=", c.want, "st/1 &")
			if d, _ := url.Parse(headerValue(got.headers, "location")); c.want == errServer && d.Query().Get("error_description") != textServerError {
				t.Errorf("server error shows internals: %s", d)
			}
			checkNoCodeInPath(t, got)
		})
	}
}

// TestRedirectSuccess: SPEC 12.4-12.6 in both modes.
func TestRedirectSuccess(t *testing.T) {
	store := storeReply("200", `{"user_id":"u-42","redirect_params":{"code":"az/9","n":7,"scope":"openid email"}}`, [2]string{"set-cookie", "sid=1"})
	query := redirectQuery(map[string]string{"scope": "openid"}) + "&password=p&ot%70=x"
	wantPath := "/passwordless/verify_redirect?" + strings.NewReplacer("&verification_code=123456", "", "verification_code=123456&", "").Replace(redirectQuery(map[string]string{"scope": "openid"}))
	t.Run("respond", func(t *testing.T) {
		vmTest(t, func(t *testing.T, h *harness) {
			vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "on_success": {"pass_headers": ["set-cookie"]}`),
				map[string]wasmhost.Cluster{"userstore": store})
			got := vm.do(t, redirectRequest(query))
			if got.status != 302 {
				t.Fatalf("status %d %s", got.status, got.body)
			}
			want := callback + "?state=st%2F1%20%26&code=az%2F9&scope=openid%20email"
			if loc := headerValue(got.headers, "location"); loc != want {
				t.Errorf("location\n got %s\nwant %s", loc, want)
			}
			if headerValue(got.headers, "set-cookie") != "sid=1" || headerValue(got.headers, "cache-control") != "no-store" {
				t.Errorf("headers %v", got.headers)
			}
			if got.path != wantPath {
				t.Errorf(":path\n got %s\nwant %s", got.path, wantPath)
			}
			calls := h.callouts()
			if len(calls) != 1 {
				t.Fatalf("%d callouts", len(calls))
			}
			wantBody := `{"tenant":"acme","client_id":"acme-web","connection":"email","username":"a@example.com","otp":"p","scope":"openid","ip":"127.0.0.1",` + // password is the first alias
				`"step":"redirect","redirect_uri":"` + callback + `","nonce":"n-1"}`
			if string(calls[0].Body) != wantBody {
				t.Errorf("callout body\n got %s\nwant %s", calls[0].Body, wantBody)
			}
		})
	})
	t.Run("forward", func(t *testing.T) {
		vmTest(t, func(t *testing.T, h *harness) {
			vm := h.mustStart(t, configWith(forwardConfig), map[string]wasmhost.Cluster{"userstore": store})
			got := vm.do(t, redirectRequest(query, [2]string{"x-passwordless-user-id", "forged"}))
			if !got.forwarded {
				t.Fatalf("not forwarded: %d %s", got.status, got.body)
			}
			if headerValue(got.headers, "x-passwordless-user-id") != "u-42" || headerValue(got.headers, "x-passwordless-tenant") != "acme" {
				t.Errorf("identity headers %v", got.headers)
			}
			if p := headerValue(got.headers, ":path"); p != wantPath || got.path != wantPath {
				t.Errorf("forwarded :path\n got %s\nwant %s", p, wantPath)
			}
		})
	})
}

// TestRedirectAttackProtection: SPEC 12.7; the redirect step counts with the POST's keys.
func TestRedirectAttackProtection(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &switchStore{}
		vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": 2}`),
			map[string]wasmhost.Cluster{"userstore": store})
		checkError(t, vm.do(t, acme(`{"client_id":"acme-web","connection":"email","username":"A@example.com","otp":"1"}`)), errWrongCode, "")
		checkRedirectError(t, vm.do(t, redirectRequest(redirectQuery(nil))), callback+"?error=", errWrongCode, "st/1 &")
		checkRedirectError(t, vm.do(t, redirectRequest(redirectQuery(nil))), callback+"?error=", errTooManyAttempts, "st/1 &")
		checkError(t, vm.do(t, acme(validBody)), errTooManyAttempts, "")
		if n := store.calls.Load(); n != 2 {
			t.Errorf("%d store calls, want 2", n)
		}
	})
}

// TestRedirectWithBody: no body is read, and none decides anything.
func TestRedirectWithBody(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		r := redirectRequest(redirectQuery(map[string]string{"email": ""}))
		r.body = `{"email":"a@example.com"}`
		checkRedirectError(t, vm.do(t, r), callback+"?error=", errMissingUsername, "st/1 &")
	})
}

func TestWithQuery(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"https://a.example/cb", "https://a.example/cb?k=v%20%2B%26%3D%C3%A9"},
		{"https://a.example/cb?x=1", "https://a.example/cb?x=1&k=v%20%2B%26%3D%C3%A9"},
		{"https://a.example/cb?", "https://a.example/cb?k=v%20%2B%26%3D%C3%A9"},
		{"https://a.example/cb?x=1&", "https://a.example/cb?x=1&k=v%20%2B%26%3D%C3%A9"},
	} {
		if got := withQuery(c.uri, [][2]string{{"k", "v +&=é"}}); got != c.want {
			t.Errorf("withQuery(%q) = %q, want %q", c.uri, got, c.want)
		}
	}
	if got := withQuery("https://a.example/cb", nil); got != "https://a.example/cb" {
		t.Errorf("no params: %q", got)
	}
}

func TestWithoutCode(t *testing.T) {
	for in, want := range map[string]string{
		"/r":       "/r",
		"/r?a=1":   "/r?a=1",
		"/r?otp=1": "/r",
		"/r?a=1&password=2&b=3&verification_code=4": "/r?a=1&b=3",
		"/r?ot%70=1&a=2": "/r?a=2",
		"/r?otpx=1":      "/r?otpx=1",
	} {
		if got := withoutCode(in); got != want {
			t.Errorf("withoutCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedirectCodeNeverLogged: SPEC 9 and 12.6 on the redirect step: not in a log line, an
// answer or :path, whatever the store says.
func TestRedirectCodeNeverLogged(t *testing.T) {
	const code = "S3CRET-0TP"
	vmTest(t, func(t *testing.T, h *harness) {
		for _, store := range []wasmhost.Cluster{okStore(), storeReply("401", `{"error":"invalid_user_password"}`), storeReply("500", "")} {
			vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": store})
			for _, q := range []string{
				redirectQuery(map[string]string{"verification_code": code}),
				redirectQuery(map[string]string{"otp": code, "verification_code": ""}),
				redirectQuery(map[string]string{"verification_code": code, "connection": "sms"}),
				redirectQuery(map[string]string{"verification_code": code, "redirect_uri": "https://evil.example"}),
				redirectQuery(map[string]string{"verification_code": code}) + "&verification_code=x",
			} {
				got := vm.do(t, redirectRequest(q))
				if strings.Contains(string(got.body), code) || strings.Contains(headerValue(got.headers, "location"), code) || strings.Contains(got.path, code) {
					t.Errorf("the code is in the answer or :path: %d %v %s %s", got.status, got.headers, got.body, got.path)
				}
			}
			for _, l := range vm.logs() {
				if strings.Contains(l, code) {
					t.Errorf("log line carries the code: %s", l)
				}
			}
		}
	})
}
