package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

const testConfig = `{
  "tenant": {"header": "x-tenant-id", "host_suffix": ".auth.example.com"},
  "tenants": {
    "acme": {
      "connections": {
        "email": {"strategy": "email", "enabled": true},
        "sms": {"strategy": "sms", "enabled": false},
        "Username-Password-Authentication": {"strategy": "auth0", "enabled": true},
        "magic": {"strategy": "email"}
      },
      "clients": {
        "acme-web": {"connections": ["email", "sms", "Username-Password-Authentication"],
          "callbacks": ["https://app.example.com/callback", "http://127.0.0.1:3000/cb?x=1"],
          "web_origins": ["https://app.example.com"]},
        "acme-magic": {"connections": ["magic"], "callbacks": ["https://magic.example.com/cb"],
          "web_origins": ["https://magic.example.com"]}
      }
    },
    "globex": {
      "connections": {"globex-email": {"strategy": "email"}},
      "clients": {"globex-web": {"connections": ["globex-email"]}}
    }
  },
  "user_store": {"cluster": "userstore"},
  "on_success": {"identity_headers": {"x-passwordless-user-id": "user_id", "x-passwordless-tenant": "tenant"}}
}`

// configWith is testConfig with its user_store and on_success replaced by tail.
func configWith(tail string) string {
	i := strings.Index(testConfig, `"user_store"`)
	return testConfig[:i] + tail + "\n}"
}

const validBody = `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`

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
	want     errorKind
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
		{name: "no tenant", req: request{body: validBody}, want: errNoTenant},
		{name: "host not under suffix", req: request{authority: "acme.other.com", body: validBody}, want: errNoTenant},
		{name: "unknown tenant", req: request{headers: [][2]string{{"x-tenant-id", "initech"}}, body: validBody}, want: errBadTenant, detail: "initech"},
		{name: "invalid tenant name", req: request{headers: [][2]string{{"x-tenant-id", "Acme!"}}, body: validBody}, want: errBadTenant},
		// Row 3.
		{name: "content-length over limit", req: acme(validBody, [2]string{"content-length", "16385"}), want: errTooLarge},
		{name: "body over limit", req: acme(`{"client_id":"` + strings.Repeat("a", 16400) + `"}`), want: errTooLarge},
		{name: "too large beats content type", req: request{headers: [][2]string{{"x-tenant-id", "acme"}, {"content-type", "text/plain"}, {"content-length", "99999"}}, body: "x"}, want: errTooLarge},
		// Row 4.
		{name: "unsupported content type", req: acme(validBody, [2]string{"content-type", "text/plain"}), want: errInvalidBody, detail: "text/plain"},
		{name: "malformed json", req: acme(`{"client_id":`), want: errInvalidBody},
		{name: "json array", req: acme(`[1,2]`), want: errInvalidBody},
		{name: "empty body", req: acme(""), want: errInvalidBody},
		{name: "duplicate key", req: acme(`{"client_id":"acme-web","client_id":"x"}`), want: errInvalidBody, detail: "client_id"},
		{name: "duplicate nested key", req: acme(`{"a":{"otp":1,"otp":2},"client_id":"acme-web"}`), want: errInvalidBody, detail: `"otp"`},
		{name: "duplicate other key is not named", req: acme(`{"a":{"b":1,"b":2},"client_id":"acme-web"}`), want: errInvalidBody, detail: "given twice"},
		{name: "invalid utf-8", req: acme("{\"client_id\":\"\xff\"}"), want: errInvalidBody},
		{name: "deep nesting", req: acme(strings.Repeat("[", 10000)), want: errInvalidBody},
		{name: "malformed beats dotted", req: acme(`{"a.b":1,"c":`), want: errInvalidBody},
		// Row 5.
		{name: "dotted key", req: acme(`{"a.b":1,"client_id":"acme-web"}`), want: errDottedField},
		{name: "dotted key nested in array", req: acme(`{"x":[{"y.z":1}]}`), want: errDottedField},
		{name: "dotted form key", req: form("a.b=1"), want: errDottedField},
		{name: "dotted beats missing client_id", req: acme(`{"a.b":1}`), want: errDottedField},
		// Rows 6 to 11.
		{name: "missing client_id", req: acme(`{"connection":"email","username":"a","otp":"1"}`), want: errMissingClientID},
		{name: "empty client_id", req: acme(`{"client_id":"","connection":"email","username":"a","otp":"1"}`), want: errMissingClientID},
		{name: "client_id not a string", req: acme(`{"client_id":7}`), want: errMissingClientID},
		{name: "unknown client", req: acme(`{"client_id":"globex-web","connection":"email","username":"a","otp":"1"}`), want: errInvalidClient},
		{name: "missing username", req: acme(`{"client_id":"acme-web","connection":"email","otp":"1"}`), want: errMissingUsername},
		{name: "null username", req: acme(`{"client_id":"acme-web","username":null,"connection":"email","otp":"1"}`), want: errMissingUsername},
		{name: "missing code", req: acme(`{"client_id":"acme-web","connection":"email","username":"a"}`), want: errMissingPassword},
		{name: "code not a string", req: acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":123456}`), want: errMissingPassword},
		{name: "form code twice is an array", req: form("client_id=acme-web&connection=email&username=a&otp=1&otp=2"), want: errMissingPassword},
		{name: "missing connection", req: acme(`{"client_id":"acme-web","username":"a","otp":"1"}`), want: errMissingConnection},
		{name: "scope number", req: acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"1","scope":5}`), want: errScopeNotString},
		{name: "scope twice in form", req: form("client_id=acme-web&connection=email&username=a&otp=1&scope=a&scope=b"), want: errScopeNotString},
		// Rows 12 to 16.
		{name: "connection of another tenant", req: acme(`{"client_id":"acme-web","connection":"globex-email","username":"a","otp":"1"}`), want: errConnectionOtherTenant, detail: "acme"},
		{name: "connection nowhere", req: acme(`{"client_id":"acme-web","connection":"nope","username":"a","otp":"1"}`), want: errConnectionNotFound},
		{name: "not passwordless", req: acme(`{"client_id":"acme-web","connection":"Username-Password-Authentication","username":"a","otp":"1"}`), want: errNotPasswordless},
		{name: "connection disabled", req: acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"1"}`), want: errConnectionDisabled},
		{name: "connection not for client", req: acme(`{"client_id":"acme-web","connection":"magic","username":"a","otp":"1"}`), want: errConnectionNotForClient},
	}
}

// checkError asserts a local answer of the catalogue row.
func checkError(t *testing.T, got outcome, want errorKind, detail string) {
	t.Helper()
	row := catalogue[want]
	if got.status != row.status {
		t.Fatalf("status %d, want %d (body %s, forwarded %v)", got.status, row.status, got.body, got.forwarded)
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
	if b.Error != row.code {
		t.Errorf("error %q, want %q", b.Error, row.code)
	}
	switch {
	case row.exact && b.Description != row.text:
		t.Errorf("error_description %q, want exactly %q", b.Description, row.text)
	case !row.exact && !strings.HasPrefix(b.Description, row.text):
		t.Errorf("error_description %q, want prefix %q", b.Description, row.text)
	case !row.exact && b.Description == row.text && row.text == "":
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

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7:5678":           "203.0.113.7",
		"203.0.113.7":                "203.0.113.7",
		"[2001:db8::1]:443":          "2001:db8::1",
		"[::1]":                      "::1",
		"2001:db8::1":                "2001:db8::1",
		"acme.auth.example.com:8443": "acme.auth.example.com",
		"":                           "",
	} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStreamedBodyOverLimit: SPEC 3 and 9; a body growing past max_request_bytes gets 413
// on the chunk that crosses the limit, so it is never buffered whole.
func TestStreamedBodyOverLimit(t *testing.T) {
	const chunk = 1024
	headers := append(pseudoHeaders(request{}), [2]string{"x-tenant-id", "acme"})
	body := []byte(strings.Repeat("a", chunk))
	// 16 chunks fill max_request_bytes exactly; the 17th crosses it.
	const crossing = defaultMaxRequestBytes/chunk + 1

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
