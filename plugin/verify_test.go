package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// testConfig is the filter's test configuration, which its own tests read too.
var testConfig = func() string {
	b, err := os.ReadFile(filepath.Join("filter", "testdata", "config.json"))
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}()

// configWith is testConfig with its user_store and on_success replaced by tail.
func configWith(tail string) string {
	i := strings.Index(testConfig, `"user_store"`)
	return testConfig[:i] + tail + "\n}"
}

const validBody = `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`

// atLimit is a valid body of exactly max_request_bytes, which the filter must take.
var atLimit = validBody[:len(validBody)-1] + `,"pad":"` + strings.Repeat("a", filter.DefaultMaxRequestBytes-len(validBody)-9) + `"}`

// okStore answers every verification with a user.
func okStore() wasmhost.Cluster {
	return wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		return &wasmhost.CalloutResponse{
			Headers: [][2]string{{":status", "200"}, {"content-type", "application/json"}},
			Body:    []byte(`{"user_id":"u1"}`),
		}, nil
	})
}

// acme is a verify request for tenant acme; extra headers are added, and an extra
// content-type replaces the JSON one.
func acme(body string, extra ...[2]string) request {
	headers := [][2]string{{"x-tenant-id", "acme"}}
	if headerValue(extra, "content-type") == "" {
		headers = append(headers, [2]string{"content-type", "application/json"})
	}
	return request{headers: append(headers, extra...), body: body}
}

type verifyCase struct {
	name string
	req  request
	// want is the catalogue row expected; wantPass means the request reached the user store.
	want     filter.ErrorKind
	wantPass bool
	// detail must appear in the error_description.
	detail string
}

func verifyCases() []verifyCase {
	form := func(body string) request {
		return request{headers: [][2]string{{"x-tenant-id", "acme"}, {"content-type", "application/x-www-form-urlencoded"}}, body: body}
	}
	return []verifyCase{
		{name: "valid json", req: acme(validBody), wantPass: true},
		{name: "valid form", req: form("client_id=acme-web&connection=email&username=a%40example.com&otp=123456"), wantPass: true},
		{name: "no content type is json", req: request{headers: [][2]string{{"x-tenant-id", "acme"}}, body: validBody}, wantPass: true},
		{name: "json with charset any case", req: acme(validBody, [2]string{"content-type", "Application/JSON; charset=utf-8"}), wantPass: true},
		{name: "tenant by host suffix", req: request{authority: "acme.auth.example.com:443", body: validBody}, wantPass: true},
		{name: "auth0.js aliases", req: acme(`{"client_id":"acme-web","connection":"email","email":"a@example.com","verification_code":"1"}`), wantPass: true},
		{name: "phone_number alias", req: acme(`{"client_id":"acme-web","connection":"email","phone_number":"+15550100","password":"1"}`), wantPass: true},
		{name: "scope string", req: acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"1","scope":"openid"}`), wantPass: true},
		{name: "scope null", req: acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"1","scope":null}`), wantPass: true},

		// Row 1 and 2.
		{name: "no tenant", req: request{body: validBody}, want: filter.ErrNoTenant},
		{name: "host not under suffix", req: request{authority: "acme.other.com", body: validBody}, want: filter.ErrNoTenant},
		{name: "unknown tenant", req: request{headers: [][2]string{{"x-tenant-id", "initech"}}, body: validBody}, want: filter.ErrBadTenant, detail: "initech"},
		{name: "invalid tenant name", req: request{headers: [][2]string{{"x-tenant-id", "Acme!"}}, body: validBody}, want: filter.ErrBadTenant},
		// Row 3.
		{name: "content-length at the limit", req: acme(atLimit, [2]string{"content-length", strconv.Itoa(len(atLimit))}), wantPass: true},
		{name: "content-length over limit", req: acme(validBody, [2]string{"content-length", "16385"}), want: filter.ErrTooLarge},
		{name: "body over limit", req: acme(`{"client_id":"` + strings.Repeat("a", 16400) + `"}`), want: filter.ErrTooLarge},
		{name: "too large beats content type", req: request{headers: [][2]string{{"x-tenant-id", "acme"}, {"content-type", "text/plain"}, {"content-length", "99999"}}, body: "x"}, want: filter.ErrTooLarge},
		// Row 4.
		{name: "unsupported content type", req: acme(validBody, [2]string{"content-type", "text/plain"}), want: filter.ErrInvalidBody, detail: "text/plain"},
		{name: "malformed json", req: acme(`{"client_id":`), want: filter.ErrInvalidBody},
		{name: "json array", req: acme(`[1,2]`), want: filter.ErrInvalidBody},
		{name: "empty body", req: acme(""), want: filter.ErrInvalidBody},
		{name: "duplicate key", req: acme(`{"client_id":"acme-web","client_id":"x"}`), want: filter.ErrInvalidBody, detail: "client_id"},
		{name: "duplicate nested key", req: acme(`{"a":{"otp":1,"otp":2},"client_id":"acme-web"}`), want: filter.ErrInvalidBody, detail: `"otp"`},
		{name: "duplicate other key is not named", req: acme(`{"a":{"b":1,"b":2},"client_id":"acme-web"}`), want: filter.ErrInvalidBody, detail: "given twice"},
		{name: "invalid utf-8", req: acme("{\"client_id\":\"\xff\"}"), want: filter.ErrInvalidBody},
		{name: "deep nesting", req: acme(strings.Repeat("[", 10000)), want: filter.ErrInvalidBody},
		{name: "malformed beats dotted", req: acme(`{"a.b":1,"c":`), want: filter.ErrInvalidBody},
		// Row 5.
		{name: "dotted key", req: acme(`{"a.b":1,"client_id":"acme-web"}`), want: filter.ErrDottedField},
		{name: "dotted key nested in array", req: acme(`{"x":[{"y.z":1}]}`), want: filter.ErrDottedField},
		{name: "dotted form key", req: form("a.b=1"), want: filter.ErrDottedField},
		{name: "dotted beats missing client_id", req: acme(`{"a.b":1}`), want: filter.ErrDottedField},
		// Rows 6 to 11.
		{name: "missing client_id", req: acme(`{"connection":"email","username":"a","otp":"1"}`), want: filter.ErrMissingClientID},
		{name: "empty client_id", req: acme(`{"client_id":"","connection":"email","username":"a","otp":"1"}`), want: filter.ErrMissingClientID},
		{name: "client_id not a string", req: acme(`{"client_id":7}`), want: filter.ErrMissingClientID},
		{name: "unknown client", req: acme(`{"client_id":"globex-web","connection":"email","username":"a","otp":"1"}`), want: filter.ErrInvalidClient},
		{name: "missing username", req: acme(`{"client_id":"acme-web","connection":"email","otp":"1"}`), want: filter.ErrMissingUsername},
		{name: "null username", req: acme(`{"client_id":"acme-web","username":null,"connection":"email","otp":"1"}`), want: filter.ErrMissingUsername},
		{name: "missing code", req: acme(`{"client_id":"acme-web","connection":"email","username":"a"}`), want: filter.ErrMissingPassword},
		{name: "code not a string", req: acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":123456}`), want: filter.ErrMissingPassword},
		{name: "form code twice is an array", req: form("client_id=acme-web&connection=email&username=a&otp=1&otp=2"), want: filter.ErrMissingPassword},
		{name: "missing connection", req: acme(`{"client_id":"acme-web","username":"a","otp":"1"}`), want: filter.ErrMissingConnection},
		{name: "scope number", req: acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"1","scope":5}`), want: filter.ErrScopeNotString},
		{name: "scope twice in form", req: form("client_id=acme-web&connection=email&username=a&otp=1&scope=a&scope=b"), want: filter.ErrScopeNotString},
		// Rows 12 to 16.
		{name: "connection of another tenant", req: acme(`{"client_id":"acme-web","connection":"globex-email","username":"a","otp":"1"}`), want: filter.ErrConnectionOtherTenant, detail: "acme"},
		{name: "connection nowhere", req: acme(`{"client_id":"acme-web","connection":"nope","username":"a","otp":"1"}`), want: filter.ErrConnectionNotFound},
		{name: "not passwordless", req: acme(`{"client_id":"acme-web","connection":"Username-Password-Authentication","username":"a","otp":"1"}`), want: filter.ErrNotPasswordless},
		{name: "connection disabled", req: acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"1"}`), want: filter.ErrConnectionDisabled},
		{name: "not passwordless beats disabled", req: acme(`{"client_id":"acme-web","connection":"legacy-ldap","username":"a","otp":"1"}`), want: filter.ErrNotPasswordless},
		{name: "connection not for client", req: acme(`{"client_id":"acme-web","connection":"magic","username":"a","otp":"1"}`), want: filter.ErrConnectionNotForClient},
	}
}

// checkError asserts a local answer of the catalogue row.
func checkError(t *testing.T, got outcome, want filter.ErrorKind, detail string) {
	t.Helper()
	row := filter.Catalogue[want]
	if got.status != row.Status {
		t.Fatalf("status %d, want %d (body %s, forwarded %v)", got.status, row.Status, got.body, got.forwarded)
	}
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	dec := json.NewDecoder(strings.NewReader(string(got.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("answer is not the error shape: %v: %s", err, got.body)
	}
	if b.Error != row.Code {
		t.Errorf("error %q, want %q", b.Error, row.Code)
	}
	switch {
	case row.Exact && b.Description != row.Text:
		t.Errorf("error_description %q, want exactly %q", b.Description, row.Text)
	case !row.Exact && !strings.HasPrefix(b.Description, row.Text):
		t.Errorf("error_description %q, want prefix %q", b.Description, row.Text)
	case !row.Exact && b.Description == row.Text && row.Text == "":
		t.Errorf("error_description is empty")
	}
	if !strings.Contains(b.Description, detail) {
		t.Errorf("error_description %q lacks %q", b.Description, detail)
	}
	if ct := headerValue(got.headers, "content-type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
}

func TestVerifyCatalogue(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		for _, chunk := range []int{0, 1} {
			for _, c := range verifyCases() {
				t.Run(c.name+chunkName(chunk), func(t *testing.T) {
					req := c.req
					req.chunk = chunk
					before := len(h.callouts())
					got := vm.do(t, req)
					called := len(h.callouts()) > before
					if c.wantPass {
						if got.status != 200 || !called {
							t.Fatalf("want a user store call and 200, got %d %s (called %v)", got.status, got.body, called)
						}
						return
					}
					if called {
						t.Errorf("the user store was called for a request the filter must answer itself")
					}
					checkError(t, got, c.want, c.detail)
				})
			}
		}
	})
}

func chunkName(n int) string {
	if n == 0 {
		return ""
	}
	return "/1-byte chunks"
}

// TestStreamedBodyOverLimit: SPEC 3 and 9; a body growing past max_request_bytes gets 413
// on the chunk that crosses the limit, so it is never buffered whole.
func TestStreamedBodyOverLimit(t *testing.T) {
	const chunk = 1024
	headers := append(pseudoHeaders(request{}), [2]string{"x-tenant-id", "acme"})
	body := []byte(strings.Repeat("a", chunk))
	// 16 chunks fill max_request_bytes exactly; the 17th crosses it.
	const crossing = filter.DefaultMaxRequestBytes/chunk + 1

	t.Run("native", func(t *testing.T) {
		vm, err := startNative(t, testConfig, nil)
		if err != nil {
			t.Fatal(err)
		}
		host := vm.(*nativeVM).host
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, headers, false)
		for i := 1; i <= crossing; i++ {
			host.CallOnRequestBody(id, body, false)
			if lr := host.GetSentLocalResponse(id); lr != nil {
				if i != crossing || lr.StatusCode != 413 {
					t.Fatalf("answer %d after chunk %d", lr.StatusCode, i)
				}
				return
			}
		}
		t.Fatal("no answer after crossing the limit")
	})
	t.Run("wasm", func(t *testing.T) {
		vm, err := startWasm(t, testConfig, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		s, err := vm.vm.NewStream(wasmhost.Request{Method: "POST", Path: "/passwordless/verify", Authority: "x", Headers: [][2]string{{"x-tenant-id", "acme"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendHeaders(ctx, false); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= crossing; i++ {
			if _, err := s.SendBody(ctx, body, false); err != nil {
				t.Fatal(err)
			}
			if s.Ended() {
				res, err := s.Finish(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if i != crossing || res.Local == nil || res.Local.Status != 413 {
					t.Fatalf("after chunk %d: %+v", i, res.Local)
				}
				return
			}
		}
		t.Fatal("no answer after crossing the limit")
	})
}

// TestTenantPrecedence: SPEC 5 row 1 on a POST; the tenant header wins over the host, the host
// over tenant.default, and the default serves a request with neither.
func TestTenantPrecedence(t *testing.T) {
	cfg := strings.Replace(testConfig, `"host_suffix": ".auth.example.com"`, `"host_suffix": ".auth.example.com", "default": "globex"`, 1)
	if cfg == testConfig {
		t.Fatal("the test configuration changed: no tenant block to add a default to")
	}
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, cfg, map[string]wasmhost.Cluster{"userstore": okStore()})
		globexBody := `{"client_id":"globex-web","connection":"globex-email","username":"a","otp":"1"}`
		for _, c := range []struct {
			name      string
			authority string
			header    string
			body      string
			tenant    string
		}{
			{"header over host and default", "globex.auth.example.com", "acme", validBody, "acme"},
			{"host over default", "acme.auth.example.com", "", validBody, "acme"},
			{"default without header or host", "login.example.com", "", globexBody, "globex"},
			{"header over the default", "login.example.com", "acme", validBody, "acme"},
		} {
			r := request{authority: c.authority, body: c.body}
			if c.header != "" {
				r.headers = [][2]string{{"x-tenant-id", c.header}}
			}
			before := len(h.callouts())
			if got := vm.do(t, r); got.status != 200 {
				t.Fatalf("%s: %d %s", c.name, got.status, got.body)
			}
			var call struct{ Tenant string }
			if err := json.Unmarshal(h.callouts()[before].Body, &call); err != nil || call.Tenant != c.tenant {
				t.Errorf("%s: the store was asked about tenant %q, want %q (%v)", c.name, call.Tenant, c.tenant, err)
			}
		}
		// The default is only a fallback: a client of acme is not one of globex.
		r := request{authority: "login.example.com", body: validBody}
		checkSpecAnswer(t, vm.do(t, r), 403, "unauthorized_client", "invalid client")
	})
}

// checkSpecAnswer compares an answer with SPEC's own words, written out here rather than read
// from filter.Catalogue, so a wrong catalogue row fails a flow test too.
func checkSpecAnswer(t *testing.T, got outcome, status uint32, code, description string) {
	t.Helper()
	quote := func(s string) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := `{"error":` + quote(code) + `,"error_description":` + quote(description) + `}`
	if got.status != status || string(got.body) != want {
		t.Errorf("got %d %s\nwant %d %s", got.status, got.body, status, want)
	}
}

// TestSpecTexts: requests through the whole flow get SPEC 5 and 6's exact answers.
func TestSpecTexts(t *testing.T) {
	store := wasmhost.ClusterFunc(func(_ context.Context, r *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		var req struct{ Username string }
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return nil, err
		}
		answers := map[string][2]string{
			"wrong":   {"401", `{"error":"invalid_user_password"}`},
			"blocked": {"401", `{"error":"unauthorized"}`},
			"gone":    {"404", `{"error":"bad.connection"}`},
		}
		a, ok := answers[req.Username]
		if !ok {
			a = [2]string{"200", `{}`}
		}
		return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", a[0]}}, Body: []byte(a[1])}, nil
	})
	user := func(u string) string {
		return `{"client_id":"acme-web","connection":"email","username":"` + u + `","otp":"1"}`
	}
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": 0, "ip_max_failures": 1}`),
			map[string]wasmhost.Cluster{"userstore": store})
		for _, c := range []struct {
			req               request
			status            uint32
			code, description string
		}{
			{request{body: validBody}, 400, "bad.tenant", "error in tenant - could not find tenant in params"},
			{acme(`{"connection":"email"}`), 400, "invalid_request", "missing client_id parameter"},
			{acme(`{"client_id":"globex-web"}`), 403, "unauthorized_client", "invalid client"},
			{acme(`{"client_id":"acme-web","otp":"1"}`), 400, "invalid_request", "missing username parameter"},
			{acme(`{"client_id":"acme-web","username":"a"}`), 400, "invalid_request", "missing password parameter"},
			{acme(`{"client_id":"acme-web","username":"a","otp":"1"}`), 400, "invalid_request", "missing connection parameter"},
			{acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"1","scope":[]}`), 400, "invalid_request", "scope parameter must be a string"},
			{acme(`{"client_id":"acme-web","connection":"nope","username":"a","otp":"1"}`), 400, "invalid_request", "the connection was not found"},
			{acme(`{"client_id":"acme-web","connection":"Username-Password-Authentication","username":"a","otp":"1"}`), 400, "bad.connection",
				"Invalid connection strategy. It must either be a passwordless connection"},
			{acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"1"}`), 400, "bad.connection", "The connection is disabled"},
			{acme(`{"client_id":"acme-web","connection":"magic","username":"a","otp":"1"}`), 400, "invalid_request", "the connection was disabled"},
			{acme(user("blocked")), 401, "unauthorized", "user is blocked"},
			{acme(user("gone")), 400, "bad.connection", "Connection does not exist"},
			{acme(user("wrong")), 401, "invalid_user_password", "Wrong email or password."},
			{acme(user("someone")), 429, "too_many_attempts",
				"We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."},
		} {
			checkSpecAnswer(t, vm.do(t, c.req), c.status, c.code, c.description)
		}
	})
}
