package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
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
func checkRedirectError(t *testing.T, got outcome, base string, want filter.ErrorKind, state string) {
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
	row := filter.Catalogue[want]
	if q.Get("error") != row.Code {
		t.Errorf("error %q, want %q (%s)", q.Get("error"), row.Code, loc)
	}
	if d := q.Get("error_description"); row.Exact && d != row.Text || !row.Exact && (!strings.HasPrefix(d, row.Text) || d == "") {
		t.Errorf("error_description %q, want %q", d, row.Text)
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
	json := func(want filter.ErrorKind, detail string) func(*testing.T, outcome) {
		return func(t *testing.T, got outcome) { t.Helper(); checkError(t, got, want, detail) }
	}
	redirect := func(want filter.ErrorKind) func(*testing.T, outcome) {
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
		{"no tenant", request{method: "GET", path: "/passwordless/verify_redirect?" + redirectQuery(nil)}, json(filter.ErrNoTenant, "")},
		{"unknown tenant", request{method: "GET", path: "/passwordless/verify_redirect?" + redirectQuery(nil), headers: [][2]string{{"x-tenant-id", "initech"}}}, json(filter.ErrBadTenant, "initech")},
		{"param twice", redirectRequest(redirectQuery(nil) + "&client_id=acme-web"), json(filter.ErrInvalidBody, `"client_id" is given twice`)},
		{"redirect_uri twice", redirectRequest(redirectQuery(nil) + "&redirect_uri=https%3A%2F%2Fevil.example"), json(filter.ErrInvalidBody, `"redirect_uri"`)},
		{"code twice", redirectRequest(redirectQuery(nil) + "&verification_code=1"), json(filter.ErrInvalidBody, `"verification_code"`)},
		{"bad escape", redirectRequest(redirectQuery(nil) + "&x=%zz"), json(filter.ErrInvalidBody, "")},
		{"missing client_id", redirectRequest(redirectQuery(map[string]string{"client_id": ""})), json(filter.ErrMissingClientID, "")},
		{"unknown client", redirectRequest(redirectQuery(map[string]string{"client_id": "globex-web"})), json(filter.ErrInvalidClient, "")},
		{"missing redirect_uri", redirectRequest(redirectQuery(map[string]string{"redirect_uri": ""})), json(filter.ErrMissingRedirectURI, "")},
		{"redirect_uri of another client", redirectRequest(redirectQuery(map[string]string{"redirect_uri": "https://magic.example.com/cb"})), json(filter.ErrRedirectURINotAllowed, "")},
		{"redirect_uri prefix", redirectRequest(redirectQuery(map[string]string{"redirect_uri": callback + "/x"})), json(filter.ErrRedirectURINotAllowed, "")},
		{"redirect_uri other query", redirectRequest(redirectQuery(map[string]string{"redirect_uri": callback + "?a=1"})), json(filter.ErrRedirectURINotAllowed, "")},
		{"missing username", redirectRequest(redirectQuery(map[string]string{"email": ""})), redirect(filter.ErrMissingUsername)},
		{"missing code", redirectRequest(redirectQuery(map[string]string{"verification_code": ""})), redirect(filter.ErrMissingPassword)},
		{"missing connection", redirectRequest(redirectQuery(map[string]string{"connection": ""})), redirect(filter.ErrMissingConnection)},
		{"connection of another tenant", redirectRequest(redirectQuery(map[string]string{"connection": "globex-email"})), redirect(filter.ErrConnectionOtherTenant)},
		{"connection nowhere", redirectRequest(redirectQuery(map[string]string{"connection": "nope"})), redirect(filter.ErrConnectionNotFound)},
		{"not passwordless", redirectRequest(redirectQuery(map[string]string{"connection": "Username-Password-Authentication"})), redirect(filter.ErrNotPasswordless)},
		{"connection disabled", redirectRequest(redirectQuery(map[string]string{"connection": "sms"})), redirect(filter.ErrConnectionDisabled)},
		{"connection not for client", redirectRequest(redirectQuery(map[string]string{"connection": "magic"})), redirect(filter.ErrConnectionNotForClient)},
		{"no state", redirectRequest(redirectQuery(map[string]string{"state": "", "email": ""})), func(t *testing.T, got outcome) {
			checkRedirectError(t, got, callback+"?error=", filter.ErrMissingUsername, "")
		}},
		{"callback with a query", redirectRequest(redirectQuery(map[string]string{"redirect_uri": "http://127.0.0.1:3000/cb?x=1", "email": ""})), func(t *testing.T, got outcome) {
			checkRedirectError(t, got, "http://127.0.0.1:3000/cb?x=1&error=", filter.ErrMissingUsername, "st/1 &")
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
	for _, mode := range []string{"respond", "forward"} {
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
		want  filter.ErrorKind
	}{
		{"wrong code", storeReply("401", `{"error":"invalid_user_password"}`), filter.ErrWrongCode},
		{"blocked", storeReply("401", `{"error":"unauthorized"}`), filter.ErrUserBlocked},
		{"access denied", storeReply("403", `{"error":"access_denied","error_description":"no"}`), filter.ErrAccessDenied},
		{"bad connection", storeReply("404", `{"error":"bad.connection"}`), filter.ErrStoreBadConnection},
		{"store limit", storeReply("429", `{"error":"too_many_attempts","error_description":"slow"}`), filter.ErrStoreTooManyAttempts},
		{"store fault", storeReply("503", ""), filter.ErrServer},
		{"redirect_params not an object", storeReply("200", `{"user_id":"u","redirect_params":"x"}`), filter.ErrServer},
	} {
		vmTest(t, func(t *testing.T, h *harness) {
			vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": c.store})
			got := vm.do(t, redirectRequest(redirectQuery(nil)))
			checkRedirectError(t, got, callback+"?error=", c.want, "st/1 &")
			if d, _ := url.Parse(headerValue(got.headers, "location")); c.want == filter.ErrServer && d.Query().Get("error_description") != filter.TextServerError {
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
		checkError(t, vm.do(t, acme(`{"client_id":"acme-web","connection":"email","username":"A@example.com","otp":"1"}`)), filter.ErrWrongCode, "")
		checkRedirectError(t, vm.do(t, redirectRequest(redirectQuery(nil))), callback+"?error=", filter.ErrWrongCode, "st/1 &")
		checkRedirectError(t, vm.do(t, redirectRequest(redirectQuery(nil))), callback+"?error=", filter.ErrTooManyAttempts, "st/1 &")
		checkError(t, vm.do(t, acme(validBody)), filter.ErrTooManyAttempts, "")
		if n := store.calls.Load(); n != 2 {
			t.Errorf("%d store calls, want 2", n)
		}
	})
}

// TestRedirectWithBody: SPEC 12.1; a body on the redirect step is refused on the headers,
// declared or chunked, never buffered or forwarded, in both modes.
func TestRedirectWithBody(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness, vm filterVM, _ string) {
		for name, r := range map[string]request{
			"a body":                     {body: `{"email":"a@example.com"}`},
			"chunked, in pieces":         {body: `{"email":"a@example.com"}`, chunk: 3, headers: [][2]string{{"transfer-encoding", "chunked"}}},
			"content-length, no body":    {headers: [][2]string{{"content-length", "900000"}}},
			"transfer-encoding, no body": {headers: [][2]string{{"transfer-encoding", "chunked"}}},
		} {
			req := redirectRequest(redirectQuery(nil))
			req.body, req.chunk = r.body, r.chunk
			req.headers = append(req.headers, r.headers...)
			got := vm.do(t, req)
			if got.forwarded || len(h.callouts()) != 0 {
				t.Fatalf("%s: went further than the filter", name)
			}
			checkSpecAnswer(t, got, 400, "invalid_request", "verify_redirect takes no body")
			checkNoCodeInPath(t, got)
		}
		// content-length: 0 is no body.
		req := redirectRequest(redirectQuery(nil))
		req.headers = append(req.headers, [2]string{"content-length", "0"})
		if got := vm.do(t, req); got.status != 302 && !got.forwarded {
			t.Errorf("content-length 0: %d %s", got.status, got.body)
		}
	})
}

// TestRedirectCodeNeverLogged: SPEC 9, 10 and 12.6 on the redirect step: the code not in a
// log line, the record, an answer or :path, whatever the store says; the username in no log
// line or record.
func TestRedirectCodeNeverLogged(t *testing.T) {
	const code, user = "S3CRET-0TP", "U5ER-N4ME@example.com"
	vmTest(t, func(t *testing.T, h *harness) {
		for _, store := range []wasmhost.Cluster{okStore(), storeReply("401", `{"error":"invalid_user_password"}`), storeReply("500", "")} {
			vm := h.mustStart(t, withLogRequests(testConfig), map[string]wasmhost.Cluster{"userstore": store})
			var outs []outcome
			for _, q := range []string{
				redirectQuery(map[string]string{"verification_code": code, "email": user}),
				redirectQuery(map[string]string{"otp": code, "verification_code": "", "email": user}),
				redirectQuery(map[string]string{"verification_code": code, "connection": "sms", "email": user}),
				redirectQuery(map[string]string{"verification_code": code, "redirect_uri": "https://evil.example", "email": user}),
				redirectQuery(map[string]string{"verification_code": code, "email": user}) + "&verification_code=x",
			} {
				got := vm.do(t, redirectRequest(q))
				if strings.Contains(string(got.body), code) || strings.Contains(headerValue(got.headers, "location"), code) || strings.Contains(got.path, code) {
					t.Errorf("the code is in the answer or :path: %d %v %s %s", got.status, got.headers, got.body, got.path)
				}
				outs = append(outs, got)
			}
			checkNeverRecorded(t, vm, outs, code, user)
		}
	})
}
