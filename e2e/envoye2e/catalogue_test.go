package envoye2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// e2eConfig adds what some rows need to the shipped plugin configuration: a second tenant
// (row 12), a passwordless connection the client may not use (row 16), and a store timeout
// shorter than the store's slow answers.
func e2eConfig(cfg map[string]any) {
	set(cfg, "tenants.globex", map[string]any{
		"connections": map[string]any{"globex-email": map[string]any{"strategy": "email"}},
		"clients":     map[string]any{"globex-web": map[string]any{"connections": []any{"globex-email"}}},
	})
	set(cfg, "tenants.acme.connections.email-b", map[string]any{"strategy": "email"})
	set(cfg, "user_store.timeout_ms", 500)
}

func body(fields string) string { return "{" + fields + "}" }

const (
	okClient = `"client_id":"acme-web"`
	okConn   = `"connection":"email"`
	okUser   = `"username":"row@e2e.test"`
	okCode   = `"otp":"123456"`
)

// TestCatalogue sends one request per row of SPEC 5 (rows 1-16) through Envoy. Every one is
// answered by the filter: exact status and body, no user store call, nothing upstream.
func TestCatalogue(t *testing.T) {
	s := startStack(t, stackOptions{config: e2eConfig})
	big := strings.Repeat("a", 17000)
	rows := []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		code    string
		desc    string
		prefix  bool
	}{
		{"1 no tenant", map[string]string{"x-tenant-id": ""}, body(okClient), 400, "bad.tenant", "error in tenant - could not find tenant in params", false},
		{"2 unknown tenant", map[string]string{"x-tenant-id": "nope"}, body(okClient), 400, "bad.tenant", "error in tenant - tenant validation failed: ", true},
		{"2 invalid tenant name", map[string]string{"x-tenant-id": "Acme!"}, body(okClient), 400, "bad.tenant", "error in tenant - tenant validation failed: ", true},
		{"3 content-length too large", nil, `{"client_id":"` + big + `"}`, 413, "invalid_request", "", true},
		{"4 content type", map[string]string{"content-type": "text/plain"}, body(okClient), 400, "invalid_request", "", true},
		{"4 malformed JSON", nil, `{"client_id":`, 400, "invalid_request", "", true},
		{"4 not an object", nil, `["acme-web"]`, 400, "invalid_request", "", true},
		{"4 duplicate key", nil, body(okClient + "," + okClient), 400, "invalid_request", "", true},
		{"5 dotted key", nil, body(okClient + `,"a":{"b.c":1}`), 400, "invalid_request", `Fields with "." are not allowed, please remove all dotted fields`, true},
		{"6 client_id missing", nil, body(okConn + "," + okUser + "," + okCode), 400, "invalid_request", "missing client_id parameter", false},
		{"7 unknown client", nil, body(`"client_id":"other",` + okConn + "," + okUser + "," + okCode), 403, "unauthorized_client", "invalid client", false},
		{"8 username missing", nil, body(okClient + "," + okConn + "," + okCode), 400, "invalid_request", "missing username parameter", false},
		{"9 code missing", nil, body(okClient + "," + okConn + "," + okUser), 400, "invalid_request", "missing password parameter", false},
		{"10 connection missing", nil, body(okClient + "," + okUser + "," + okCode), 400, "invalid_request", "missing connection parameter", false},
		{"11 scope not a string", nil, body(okClient + "," + okConn + "," + okUser + "," + okCode + `,"scope":1`), 400, "invalid_request", "scope parameter must be a string", false},
		{"12 connection of another tenant", nil, body(okClient + `,"connection":"globex-email",` + okUser + "," + okCode), 400, "invalid_request", "the connection was not found for tenant", true},
		{"13 connection nowhere", nil, body(okClient + `,"connection":"nope",` + okUser + "," + okCode), 400, "invalid_request", "the connection was not found", false},
		{"14 not passwordless", nil, body(okClient + `,"connection":"Username-Password-Authentication",` + okUser + "," + okCode), 400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection", false},
		{"15 connection disabled", nil, body(okClient + `,"connection":"sms",` + okUser + "," + okCode), 400, "bad.connection", "The connection is disabled", false},
		{"16 not the client's connection", nil, body(okClient + `,"connection":"email-b",` + okUser + "," + okCode), 400, "invalid_request", "the connection was disabled", false},
		{"form body", map[string]string{"content-type": "application/x-www-form-urlencoded"}, "client_id=acme-web&connection=email", 400, "invalid_request", "missing username parameter", false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			up, hits := s.upstream.count(), s.storeHit.get()
			a := s.verify(t, r.headers, r.body)
			checkError(t, a, r.status, r.code, r.desc, r.prefix)
			if s.upstream.count() != up || s.storeHit.get() != hits {
				t.Errorf("the request went further than the filter: upstream %d→%d, store %d→%d", up, s.upstream.count(), hits, s.storeHit.get())
			}
		})
	}
}

// TestStoreAnswers maps every user store answer of SPEC 6 through Envoy's callout.
func TestStoreAnswers(t *testing.T) {
	s := startStack(t, stackOptions{config: e2eConfig})
	rows := []struct {
		user   string
		status int
		code   string
		desc   string
	}{
		{"s-401@e2e.test", 401, "invalid_user_password", "Wrong email or password."},
		{"s-401u@e2e.test", 401, "unauthorized", "user is blocked"},
		{"s-403@e2e.test", 403, "access_denied", "not for this app today"},
		{"s-404@e2e.test", 400, "bad.connection", "Connection does not exist"},
		{"s-429@e2e.test", 429, "too_many_attempts", "slow down"},
	}
	for _, r := range rows {
		t.Run(r.user, func(t *testing.T) {
			up := s.upstream.count()
			a := s.verify(t, nil, verifyBody(r.user, "123456"))
			checkError(t, a, r.status, r.code, r.desc, false)
			if s.upstream.count() != up {
				t.Error("a failed verification reached the upstream")
			}
		})
	}
}

func checkError(t *testing.T, a answer, status int, code, desc string, prefix bool) {
	t.Helper()
	if a.status != status || a.errCode != code {
		t.Fatalf("got %d %s, want %d %s", a.status, a.body, status, code)
	}
	if ct := a.header.Get("content-type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if prefix && !strings.HasPrefix(a.errDesc, desc) || !prefix && a.errDesc != desc {
		t.Errorf("error_description %q, want %s%q", a.errDesc, map[bool]string{true: "prefix ", false: ""}[prefix], desc)
	}
	if a.header.Get("x-upstream") != "" {
		t.Error("answer came from the upstream")
	}
}

// TestSuccessRespond verifies a real code in the reference store: 200 with the store's
// object; the code is used up afterwards; pass_headers are copied, others are not.
func TestSuccessRespond(t *testing.T) {
	s := startStack(t, stackOptions{config: e2eConfig})
	s.addUser(t, "real@e2e.test", "u-real")
	code := s.code(t, "real@e2e.test")
	a := s.verify(t, nil, verifyBody("real@e2e.test", code))
	if a.status != http.StatusOK || !strings.Contains(string(a.body), `"user_id":"u-real"`) {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	a = s.verify(t, nil, verifyBody("real@e2e.test", code))
	checkError(t, a, 401, "invalid_user_password", "Wrong email or password.", false)

	a = s.verify(t, nil, verifyBody("s-set-cookie@e2e.test", "1"))
	if a.status != 200 || a.header.Get("set-cookie") != "session=abc; HttpOnly" || a.header.Get("x-not-passed") != "" {
		t.Errorf("pass_headers: got %d %v", a.status, a.header)
	}
	a = s.verify(t, nil, verifyBody("s-200-empty@e2e.test", "1"))
	if a.status != 200 || string(a.body) != "{}" {
		t.Errorf("empty store answer: got %d %q, want 200 {}", a.status, a.body)
	}
	if s.upstream.count() != 0 {
		t.Errorf("respond mode sent %d requests upstream", s.upstream.count())
	}
}

// TestSuccessForward: the request goes upstream with the identity headers (forged ones
// removed), without the code, with a content-length that matches the new body.
func TestSuccessForward(t *testing.T) {
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "on_success.mode", "forward")
	}})
	s.addUser(t, "fwd@e2e.test", "u-fwd")
	code := s.code(t, "fwd@e2e.test")
	a := s.verify(t, map[string]string{"x-passwordless-user-id": "forged"},
		`{"client_id":"acme-web","connection":"email","username":"fwd@e2e.test","otp":"`+code+`","keep":"me"}`)
	if a.status != 200 || a.header.Get("x-upstream") != "recorder" {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	got := s.upstream.last()
	if v := got.Header.Values("x-passwordless-user-id"); len(v) != 1 || v[0] != "u-fwd" {
		t.Errorf("x-passwordless-user-id %q, want [u-fwd]", v)
	}
	if v := got.Header.Get("x-passwordless-tenant"); v != "acme" {
		t.Errorf("x-passwordless-tenant %q", v)
	}
	if strings.Contains(got.Body, code) || strings.Contains(got.Body, "otp") || !strings.Contains(got.Body, `"keep":"me"`) {
		t.Errorf("forwarded body %q", got.Body)
	}
	if cl := got.Header.Get("content-length"); cl != "" && cl != strconv.Itoa(len(got.Body)) {
		t.Errorf("content-length %s for a body of %d bytes", cl, len(got.Body))
	}
	if strings.Contains(s.log.String(), code) {
		t.Error("the code is in Envoy's log")
	}
}
