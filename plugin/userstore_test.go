package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// storeReply answers every callout with a fixed status, body and headers.
func storeReply(status string, body string, headers ...[2]string) wasmhost.Cluster {
	return wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		return &wasmhost.CalloutResponse{
			Headers: append([][2]string{{":status", status}, {"content-type", "application/json"}}, headers...),
			Body:    []byte(body),
		}, nil
	})
}

func TestUserStoreAnswers(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	cases := []struct {
		name    string
		store   wasmhost.Cluster
		status  uint32
		want    filter.ErrorKind // when status is not 200
		desc    string           // exact description expected for rows carrying the store's text
		body    string           // exact body expected for 200
		headers [][2]string
	}{
		{name: "200 object", store: storeReply("200", `{"user_id":"u1","email":"a@example.com"}`, [2]string{"set-cookie", "sid=1"}, [2]string{"x-internal", "no"}),
			status: 200, body: `{"user_id":"u1","email":"a@example.com"}`, headers: [][2]string{{"set-cookie", "sid=1"}}},
		{name: "200 empty", store: storeReply("200", ""), status: 200, body: `{}`},
		{name: "401 wrong code", store: storeReply("401", `{"error":"invalid_user_password"}`), status: 401, want: filter.ErrWrongCode},
		{name: "401 blocked", store: storeReply("401", `{"error":"unauthorized"}`), status: 401, want: filter.ErrUserBlocked},
		{name: "403 access denied", store: storeReply("403", `{"error":"access_denied","error_description":"no\u0000 access\n"}`), status: 403, want: filter.ErrAccessDenied, desc: "no access"},
		{name: "403 long description", store: storeReply("403", `{"error":"access_denied","error_description":"`+long+`"}`), status: 403, want: filter.ErrAccessDenied, desc: long[:256]},
		{name: "404 bad connection", store: storeReply("404", `{"error":"bad.connection"}`), status: 400, want: filter.ErrStoreBadConnection},
		{name: "429 store limit", store: storeReply("429", `{"error":"too_many_attempts","error_description":"slow down"}`), status: 429, want: filter.ErrStoreTooManyAttempts, desc: "slow down"},
		{name: "500", store: storeReply("500", `{"error":"boom"}`), status: 500, want: filter.ErrServer},
		{name: "503 empty", store: storeReply("503", ``), status: 500, want: filter.ErrServer},
		{name: "401 unknown error", store: storeReply("401", `{"error":"nope"}`), status: 500, want: filter.ErrServer},
		{name: "200 array", store: storeReply("200", `[1]`), status: 500, want: filter.ErrServer},
		{name: "200 malformed", store: storeReply("200", `{"user_id":`), status: 500, want: filter.ErrServer},
		{name: "200 invalid UTF-8", store: storeReply("200", "{\"user_id\":\"\xff\"}"), status: 500, want: filter.ErrServer},
		{name: "200 lone surrogate", store: storeReply("200", `{"user_id":"\ud800"}`), status: 500, want: filter.ErrServer},
		{name: "200 nested too deep", store: storeReply("200", `{"a":`+strings.Repeat("[", 64)+strings.Repeat("]", 64)+`}`), status: 500, want: filter.ErrServer},
		{name: "401 first error wins", store: storeReply("401", `{"error":"invalid_user_password","error":"unauthorized"}`), status: 401, want: filter.ErrWrongCode},
		{name: "200 oversized", store: storeReply("200", `{"a":"`+strings.Repeat("x", filter.MaxAnswerBytes)+`"}`), status: 500, want: filter.ErrServer},
		{name: "failed call", store: wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			return nil, errors.New("connection reset")
		}), status: 500, want: filter.ErrServer},
	}
	vmTest(t, func(t *testing.T, h *harness) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "on_success": {"pass_headers": ["set-cookie"]}`),
					map[string]wasmhost.Cluster{"userstore": c.store})
				got := vm.do(t, acme(validBody))
				if c.status == 200 {
					if got.status != 200 || string(got.body) != c.body {
						t.Fatalf("got %d %s, want 200 %s", got.status, got.body, c.body)
					}
					for _, kv := range c.headers {
						if headerValue(got.headers, kv[0]) != kv[1] {
							t.Errorf("header %s: %q", kv[0], headerValue(got.headers, kv[0]))
						}
					}
					if headerValue(got.headers, "x-internal") != "" {
						t.Error("a header not in pass_headers was copied")
					}
					return
				}
				if got.forwarded {
					t.Fatal("forwarded after a failed verification")
				}
				checkError(t, got, c.want, c.desc)
				if c.desc != "" && errorDescription(t, got) != c.desc {
					t.Errorf("description %q, want %q", errorDescription(t, got), c.desc)
				}
				if c.want == filter.ErrServer && errorDescription(t, got) != filter.TextServerError {
					t.Errorf("a server error must not show internals: %q", errorDescription(t, got))
				}
			})
		}
	})
}

func errorDescription(t *testing.T, o outcome) string {
	t.Helper()
	var b struct {
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(o.body, &b); err != nil {
		t.Fatalf("%v: %s", err, o.body)
	}
	return b.Description
}

func TestUserStoreCallout(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore", "authority": "us.internal", "path": "/check", "timeout_ms": 700}`),
			map[string]wasmhost.Cluster{"userstore": okStore()})
		// Extra and nested fields of the client must not reach the store.
		body := `{"client_id":"acme-web","connection":"email","email":"A@Example.com","otp":"12 34","scope":"openid","extra":{"tenant":"globex"},"ip":"1.2.3.4"}`
		got := vm.do(t, request{
			headers: [][2]string{{"x-tenant-id", "acme"}, {"x-request-id", "req-7"}},
			body:    body,
			source:  "[2001:db8::1]:443",
		})
		if got.status != 200 {
			t.Fatalf("status %d %s", got.status, got.body)
		}
		calls := h.callouts()
		if len(calls) != 1 {
			t.Fatalf("%d callouts", len(calls))
		}
		c := calls[0]
		for _, kv := range [][2]string{{":method", "POST"}, {":path", "/check"}, {":authority", "us.internal"},
			{"content-type", "application/json"}, {"x-request-id", "req-7"}} {
			if headerValue(c.Headers, kv[0]) != kv[1] {
				t.Errorf("callout header %s = %q, want %q", kv[0], headerValue(c.Headers, kv[0]), kv[1])
			}
		}
		want := `{"tenant":"acme","client_id":"acme-web","connection":"email","username":"A@Example.com","otp":"12 34","scope":"openid","ip":"2001:db8::1","step":"verify"}`
		if string(c.Body) != want {
			t.Errorf("callout body\n got %s\nwant %s", c.Body, want)
		}
		if c.Timeout != 700*time.Millisecond {
			t.Errorf("timeout %v", c.Timeout)
		}
	})
}

func TestUserStoreUnknownCluster(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"other": okStore()})
		checkError(t, vm.do(t, acme(validBody)), filter.ErrServer, "")
	})
}

func TestUserStoreTimeout(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		hang := wasmhost.ClusterFunc(func(ctx context.Context, _ *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore", "timeout_ms": 50}`), map[string]wasmhost.Cluster{"userstore": hang})
		checkError(t, vm.do(t, acme(validBody)), filter.ErrServer, "")
	})
}

const forwardConfig = `"user_store": {"cluster": "userstore"}, "on_success": {"mode": "forward",
  "identity_headers": {"x-passwordless-user-id": "user_id", "x-passwordless-tenant": "tenant", "x-passwordless-email": "email",
    "x-passwordless-client": "client_id", "x-passwordless-connection": "connection"}}`

func TestForward(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(forwardConfig),
			map[string]wasmhost.Cluster{"userstore": storeReply("200", `{"user_id":"u-42","email":7}`)})
		body := `{"client_id":"acme-web","connection":"email","username":"a@example.com","password":"p","verification_code":"v","otp":"123456","state":"s"}`
		got := vm.do(t, acme(body, [2]string{"x-passwordless-user-id", "forged"}, [2]string{"x-passwordless-email", "forged"},
			[2]string{"content-length", strconv.Itoa(len(body))}))
		if !got.forwarded {
			t.Fatalf("not forwarded: %d %s", got.status, got.body)
		}
		if v := headerValue(got.headers, "x-passwordless-user-id"); v != "u-42" {
			t.Errorf("user id header %q", v)
		}
		for name, want := range map[string]string{"x-passwordless-tenant": "acme",
			"x-passwordless-client": "acme-web", "x-passwordless-connection": "email"} {
			if v := headerValue(got.headers, name); v != want {
				t.Errorf("%s = %q, want %q", name, v, want)
			}
		}
		if v := headerValue(got.headers, "x-passwordless-email"); v != "" {
			t.Errorf("a non-string answer field must not set a header, and the forged one must be gone: %q", v)
		}
		if string(got.body) != `{"client_id":"acme-web","connection":"email","username":"a@example.com","state":"s"}` {
			t.Errorf("forwarded body %s", got.body)
		}
		// Exactly: a missing or stale content-length would corrupt the upstream request.
		if v := headerValue(got.headers, "content-length"); v != strconv.Itoa(len(got.body)) {
			t.Errorf("content-length %q for a %d-byte body", v, len(got.body))
		}
	})
}

func TestForwardFailsClosed(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(forwardConfig), map[string]wasmhost.Cluster{
			"userstore": storeReply("200", `{"user_id":"bad\r\nx-admin: 1"}`),
		})
		got := vm.do(t, acme(validBody))
		if got.forwarded {
			t.Fatal("a header-splitting answer was forwarded")
		}
		checkError(t, got, filter.ErrServer, "")
	})
}

// TestIdentityHeadersRemovedEverywhere: SPEC 9, on a request the filter does not handle.
func TestIdentityHeadersRemovedEverywhere(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(forwardConfig), map[string]wasmhost.Cluster{"userstore": okStore()})
		for _, r := range []request{
			{method: "GET", path: "/userinfo", headers: [][2]string{{"x-passwordless-user-id", "admin"}, {"X-Passwordless-Tenant", "acme"}}},
			{method: "POST", path: "/other", headers: [][2]string{{"x-passwordless-user-id", "admin"}}, body: "hello"},
		} {
			got := vm.do(t, r)
			if !got.forwarded {
				t.Fatalf("%s %s not passed through: %d", r.method, r.path, got.status)
			}
			if headerValue(got.headers, "x-passwordless-user-id") != "" || headerValue(got.headers, "x-passwordless-tenant") != "" {
				t.Errorf("identity header survived: %v", got.headers)
			}
			if r.body != "" && string(got.body) != r.body {
				t.Errorf("body changed: %q", got.body)
			}
		}
	})
}
