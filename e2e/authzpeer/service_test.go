package authzpeer

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testConfig = `{
  "verify_path": "/passwordless/verify",
  "max_request_bytes": 1024,
  "tenant": {"header": "x-tenant-id", "host_suffix": ".auth.example.com"},
  "tenants": {
    "acme": {
      "connections": {
        "email": {"strategy": "email", "enabled": true},
        "sms": {"strategy": "sms", "enabled": false},
        "db": {"strategy": "auth0", "enabled": true},
        "spare": {"strategy": "email", "enabled": true}
      },
      "clients": {"acme-web": {"connections": ["email", "sms", "db"]}}
    },
    "other": {"connections": {"elsewhere": {"strategy": "email", "enabled": true}}, "clients": {}}
  },
  "user_store": {"cluster": "userstore", "authority": "userstore.internal", "path": "/v1/verify", "timeout_ms": 1000},
  "attack_protection": {"max_attempts": 3, "window_seconds": 900, "ip_max_failures": 5},
  "on_success": {"pass_headers": ["set-cookie"]}
}`

const good = `{"client_id":"acme-web","connection":"email","username":"A@example.com","otp":"123456"}`

// store is a fake user store: it answers with status and body, and records the calls.
type store struct {
	mu            sync.Mutex
	status        int
	body          string
	calls         int
	last          map[string]any
	host, reqID   string
	gate          chan struct{} // if set, each call waits for it
	inFlight, max atomic.Int32
}

func (st *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := st.inFlight.Add(1)
	defer st.inFlight.Add(-1)
	for m := st.max.Load(); n > m && !st.max.CompareAndSwap(m, n); m = st.max.Load() {
	}
	if st.gate != nil {
		<-st.gate
	}
	var req map[string]any
	_ = json.NewDecoder(r.Body).Decode(&req)
	st.mu.Lock()
	st.calls++
	st.last, st.host, st.reqID = req, r.Host, r.Header.Get("x-request-id")
	status, body := st.status, st.body
	st.mu.Unlock()
	w.Header().Set("set-cookie", "sid=1")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func newService(t *testing.T, st *store) *Service {
	t.Helper()
	cfg, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	return New(cfg, strings.TrimPrefix(srv.URL, "http://"))
}

type reply struct {
	status      int
	code, text  string
	allow, auth string
	cookie      string
}

func send(s *Service, method, path, body string, headers ...string) reply {
	r := httptest.NewRequest(method, "http://authz"+path, strings.NewReader(body))
	r.Header.Set("x-tenant-id", "acme")
	r.Header.Set("content-type", "application/json")
	r.Header.Set(PeerIPHeader, "203.0.113.7")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Add(headers[i], headers[i+1])
		}
	}
	if i := len(headers) - 1; len(headers)%2 == 1 {
		r.Host = headers[i]
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var e struct {
		Error string `json:"error"`
		Text  string `json:"error_description"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return reply{w.Code, e.Error, e.Text, w.Header().Get("allow"), w.Header().Get("content-type"), w.Header().Get("set-cookie")}
}

func TestChecksInOrder(t *testing.T) {
	st := &store{status: 200, body: `{"user_id":"u1"}`}
	s := newService(t, st)
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code, text               string
	}{
		{"other path", "POST", "/passwordless/verify/", good, nil, 404, "invalid_request", "unknown path"},
		{"method", "GET", "/passwordless/verify", "", nil, 405, "invalid_request", "method not allowed"},
		{"no tenant", "POST", "/passwordless/verify", good, []string{"x-tenant-id", ""}, 400, "bad.tenant", "error in tenant - could not find tenant in params"},
		{"tenant twice", "POST", "/passwordless/verify", good, []string{"x-tenant-id", "acme"}, 400, "bad.tenant", "error in tenant - tenant validation failed: the tenant header is given more than once"},
		{"tenant shape", "POST", "/passwordless/verify", good, []string{"x-tenant-id", "", "x-tenant-id", "Acme"}, 400, "bad.tenant", "error in tenant - tenant validation failed: the tenant name is not valid"},
		{"tenant unknown", "POST", "/passwordless/verify", good, []string{"x-tenant-id", "", "x-tenant-id", "nope"}, 400, "bad.tenant", "error in tenant - tenant validation failed: tenant nope is not configured"},
		{"tenant by host", "POST", "/passwordless/verify", good, []string{"x-tenant-id", "", "ACME.auth.example.com:443"}, 200, "", ""},
		{"too large", "POST", "/passwordless/verify", `{"x":"` + strings.Repeat("a", 1100) + `"}`, nil, 413, "invalid_request", "request body is too large"},
		{"content type", "POST", "/passwordless/verify", good, []string{"content-type", "", "content-type", "text/plain"}, 400, "invalid_request", `unsupported content type "text/plain"`},
		{"not an object", "POST", "/passwordless/verify", `[1]`, nil, 400, "invalid_request", "the body must be a JSON object"},
		{"two values", "POST", "/passwordless/verify", good + good, nil, 400, "invalid_request", "the body must be one JSON object"},
		{"malformed", "POST", "/passwordless/verify", `{"a":}`, nil, 400, "invalid_request", "malformed JSON"},
		{"not UTF-8", "POST", "/passwordless/verify", "{\"a\":\"\xff\"}", nil, 400, "invalid_request", "the body is not UTF-8"},
		{"duplicate deep", "POST", "/passwordless/verify", `{"a":[{"b":1,"b":2}]}`, nil, 400, "invalid_request", "duplicate key in the JSON body"},
		{"dotted deep", "POST", "/passwordless/verify", `{"a":{"b.c":1}}`, nil, 400, "invalid_request", `Fields with "." are not allowed, please remove all dotted fields`},
		{"too deep", "POST", "/passwordless/verify", strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), nil, 400, "invalid_request", "the JSON body is nested too deeply"},
		{"64 deep is fine", "POST", "/passwordless/verify", strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64), nil, 400, "invalid_request", "missing client_id parameter"},
		{"no client", "POST", "/passwordless/verify", `{"client_id":""}`, nil, 400, "invalid_request", "missing client_id parameter"},
		{"bad client", "POST", "/passwordless/verify", `{"client_id":"x"}`, nil, 403, "unauthorized_client", "invalid client"},
		{"no username", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":7}`, nil, 400, "invalid_request", "missing username parameter"},
		{"no code", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b"}`, nil, 400, "invalid_request", "missing password parameter"},
		{"no connection", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1"}`, nil, 400, "invalid_request", "missing connection parameter"},
		{"scope", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"email","scope":1}`, nil, 400, "invalid_request", "scope parameter must be a string"},
		{"scope null", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"email","scope":null}`, nil, 200, "", ""},
		{"other tenant's", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"elsewhere"}`, nil, 400, "invalid_request", "the connection was not found for tenant acme"},
		{"no such connection", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"x"}`, nil, 400, "invalid_request", "the connection was not found"},
		{"not passwordless", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"db"}`, nil, 400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection"},
		{"disabled", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"sms"}`, nil, 400, "bad.connection", "The connection is disabled"},
		{"not the client's", "POST", "/passwordless/verify", `{"client_id":"acme-web","email":"a@b","password":"1","connection":"spare"}`, nil, 400, "invalid_request", "the connection was disabled"},
		{"form", "POST", "/passwordless/verify", "client_id=acme-web&username=a%40b&otp=1&connection=email", []string{"content-type", "", "content-type", "application/x-www-form-urlencoded"}, 200, "", ""},
		{"form twice", "POST", "/passwordless/verify", "client_id=acme-web&client_id=acme-web", []string{"content-type", "", "content-type", "application/x-www-form-urlencoded"}, 400, "invalid_request", "missing client_id parameter"},
		{"form semicolon", "POST", "/passwordless/verify", "client_id=acme-web;a=b", []string{"content-type", "", "content-type", "application/x-www-form-urlencoded"}, 400, "invalid_request", `";" is not a separator; encode it as %3B`},
		{"verified", "POST", "/passwordless/verify?x=1", good, nil, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := send(s, c.method, c.path, c.body, c.headers...)
			if got.status != c.status || got.code != c.code || got.text != c.text {
				t.Fatalf("got %d %q %q, want %d %q %q", got.status, got.code, got.text, c.status, c.code, c.text)
			}
			if c.status == 405 && got.allow != "POST" {
				t.Errorf("allow %q", got.allow)
			}
			if c.status != 200 && got.auth != "application/json" {
				t.Errorf("content-type %q", got.auth)
			}
		})
	}
}

func TestStoreCall(t *testing.T) {
	st := &store{status: 200, body: `{"user_id":"u1"}`}
	s := newService(t, st)
	got := send(s, "POST", "/passwordless/verify", good+" ", "x-request-id", "r-1")
	if got.status != 200 || got.cookie != "sid=1" {
		t.Fatalf("got %+v, want 200 with the store's set-cookie", got)
	}
	want := map[string]any{"tenant": "acme", "client_id": "acme-web", "connection": "email", "username": "A@example.com",
		"otp": "123456", "ip": "203.0.113.7", "step": "verify"}
	for k, v := range want {
		if st.last[k] != v {
			t.Errorf("store request %s = %v, want %v", k, st.last[k], v)
		}
	}
	if len(st.last) != len(want) || st.host != "userstore.internal" || st.reqID != "r-1" {
		t.Errorf("store request %v host %q x-request-id %q", st.last, st.host, st.reqID)
	}
	if c := s.Counts(); c["verified"] != 1 {
		t.Errorf("counts %v", c)
	}
}

func TestStoreAnswers(t *testing.T) {
	cases := []struct {
		status     int
		body       string
		wantStatus int
		code, text string
	}{
		{401, `{"error":"invalid_user_password"}`, 401, "invalid_user_password", "Wrong email or password."},
		{401, `{"error":"unauthorized"}`, 401, "unauthorized", "user is blocked"},
		{403, `{"error":"access_denied","error_description":"no\nway` + strings.Repeat("x", 300) + `"}`, 403, "access_denied", "noway" + strings.Repeat("x", 251)},
		{404, `{"error":"bad.connection"}`, 400, "bad.connection", "Connection does not exist"},
		{429, `{"error":"too_many_attempts","error_description":"slow down"}`, 429, "too_many_attempts", "slow down"},
		{200, `[]`, 500, "server_error", "The verification could not be completed. Try again later."},
		{502, `{}`, 500, "server_error", "The verification could not be completed. Try again later."},
	}
	for _, c := range cases {
		s := newService(t, &store{status: c.status, body: c.body})
		got := send(s, "POST", "/passwordless/verify", good)
		if got.status != c.wantStatus || got.code != c.code || got.text != c.text {
			t.Errorf("store %d %s: got %d %q %q, want %d %q %q", c.status, c.body, got.status, got.code, got.text, c.wantStatus, c.code, c.text)
		}
	}
}

func TestAttackProtection(t *testing.T) {
	st := &store{status: 401, body: `{"error":"invalid_user_password"}`}
	s := newService(t, st)
	for i := range 3 {
		if got := send(s, "POST", "/passwordless/verify", good); got.status != 401 {
			t.Fatalf("attempt %d: %d", i, got.status)
		}
	}
	// The key is (tenant, connection, lower-cased username, IP): another case is the same key.
	same := strings.Replace(good, "A@example.com", "a@EXAMPLE.com", 1)
	if got := send(s, "POST", "/passwordless/verify", same); got.status != 429 || got.text != "Your account has been blocked after multiple consecutive login attempts." {
		t.Fatalf("4th attempt: %+v", got)
	}
	if st.calls != 3 {
		t.Fatalf("%d store calls, want 3", st.calls)
	}
	// Another user from the same IP: two more failures reach ip_max_failures (5).
	other := strings.Replace(good, "A@example.com", "b@example.com", 1)
	send(s, "POST", "/passwordless/verify", other)
	send(s, "POST", "/passwordless/verify", other)
	got := send(s, "POST", "/passwordless/verify", strings.Replace(good, "A@example.com", "c@example.com", 1))
	if got.status != 429 || !strings.HasPrefix(got.text, "We have detected suspicious login behavior") {
		t.Fatalf("after 5 failures from one IP: %+v", got)
	}
	// Another IP is counted apart; success clears the key.
	st.status, st.body = 200, `{}`
	if got := send(s, "POST", "/passwordless/verify", good, PeerIPHeader, "", PeerIPHeader, "198.51.100.1"); got.status != 200 {
		t.Fatalf("another IP: %+v", got)
	}
}

func TestIPv6CountsPer64(t *testing.T) {
	st := &store{status: 401, body: `{"error":"invalid_user_password"}`}
	s := newService(t, st)
	for i := range 3 {
		send(s, "POST", "/passwordless/verify", good, PeerIPHeader, "", PeerIPHeader, "2001:db8:0:1::"+string(rune('1'+i)))
	}
	if got := send(s, "POST", "/passwordless/verify", good, PeerIPHeader, "", PeerIPHeader, "2001:db8:0:1:ffff::9"); got.status != 429 {
		t.Fatalf("same /64: %+v", got)
	}
	if st.last["ip"] != "2001:db8:0:1::3" {
		t.Errorf("the store gets the full address, got %v", st.last["ip"])
	}
}

// TestInFlightCounts: however many requests for one key arrive at once, at most max_attempts
// reach the store.
func TestInFlightCounts(t *testing.T) {
	st := &store{status: 401, body: `{"error":"invalid_user_password"}`, gate: make(chan struct{})}
	s := newService(t, st)
	var wg sync.WaitGroup
	var refused atomic.Int32
	for range 8 {
		wg.Go(func() {
			if send(s, "POST", "/passwordless/verify", good).status == 429 {
				refused.Add(1)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for refused.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(st.gate)
	wg.Wait()
	if refused.Load() != 5 || st.max.Load() > 3 {
		t.Fatalf("%d refused, %d in the store at once; want 5 refused and at most 3", refused.Load(), st.max.Load())
	}
}

func TestUnknownOutcomeStaysTaken(t *testing.T) {
	st := &store{status: 503, body: ``}
	s := newService(t, st)
	for range 3 {
		send(s, "POST", "/passwordless/verify", good)
	}
	st.status = 200
	if got := send(s, "POST", "/passwordless/verify", good); got.status != 429 {
		t.Fatalf("after 3 unknown outcomes: %+v", got)
	}
	// Verdicts other than a wrong code give the attempt back.
	st2 := &store{status: 401, body: `{"error":"unauthorized"}`}
	s2 := newService(t, st2)
	for range 5 {
		if got := send(s2, "POST", "/passwordless/verify", good); got.status != 401 {
			t.Fatalf("blocked user: %+v", got)
		}
	}
}
