package envoye2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	callback = "http://127.0.0.1:3000/callback" // the shipped client's callback and web origin
	page     = "http://127.0.0.1:3000"
)

func redirectURL(s *stack, q url.Values) string {
	return s.envoy.URL + "/passwordless/verify_redirect?" + q.Encode()
}

func redirectQuery(user, code string) url.Values {
	return url.Values{
		"client_id": {client}, "response_type": {"token"}, "redirect_uri": {callback},
		"connection": {connection}, "email": {user}, "verification_code": {code},
		"state": {"st-1"}, "nonce": {"n-1"},
	}
}

func (s *stack) get(t testing.TB, u string, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-tenant-id", tenant)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return s.do(t, req)
}

// TestRedirectStep (SPEC 12) through Envoy: the POST verifies, the GET redirect step uses the
// code once more and sends the browser to the callback with state and the store's
// redirect_params; a second redirect with the code fails as a redirect; a callback that is
// not the client's is refused as JSON. Afterwards Envoy's access log has the redirect step's
// path without the code.
func TestRedirectStep(t *testing.T) {
	s := startStack(t, stackOptions{config: e2eConfig})
	code := verifiedCode(t, s, "page@e2e.test", "u-page")
	a := s.get(t, redirectURL(s, redirectQuery("page@e2e.test", code)), nil)
	loc, err := url.Parse(a.header.Get("location"))
	if a.status != 302 || err != nil || !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("redirect step: %d location %q", a.status, a.header.Get("location"))
	}
	if q := loc.Query(); q.Get("state") != "st-1" || q.Get("code") == "" || q.Get("error") != "" {
		t.Errorf("callback query %v: want state and the store's redirect_params", q)
	}
	a = s.get(t, redirectURL(s, redirectQuery("page@e2e.test", code)), nil)
	loc, _ = url.Parse(a.header.Get("location"))
	if a.status != 302 || loc.Query().Get("error") != "invalid_user_password" || loc.Query().Get("state") != "st-1" {
		t.Errorf("second redirect with the code: %d %q", a.status, a.header.Get("location"))
	}
	if cc := a.header.Get("cache-control"); cc != "no-store" {
		t.Errorf("cache-control %q", cc)
	}
	q := redirectQuery("page@e2e.test", code)
	q.Set("redirect_uri", "https://evil.example/cb")
	a = s.get(t, redirectURL(s, q), nil)
	checkError(t, a, 400, "invalid_request", "redirect_uri is not an allowed callback URL for this client", false)
	if s.upstream.count() != 0 {
		t.Fatalf("respond mode sent %d requests upstream", s.upstream.count())
	}

	if err := s.envoy.Stop(); err != nil { // flushes the access log
		t.Fatal(err)
	}
	logged := s.log.String()
	if !strings.Contains(logged, `"GET /passwordless/verify_redirect?`) {
		t.Fatal("no redirect step in Envoy's access log")
	}
	if strings.Contains(logged, code) {
		t.Errorf("the code %s is in Envoy's log", code)
	}
}

// TestRedirectStepForward: in forward mode the redirect step goes upstream with the identity
// headers and without the code in its path.
func TestRedirectStepForward(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	code := verifiedCode(t, s, "fpage@e2e.test", "u-fpage")
	a := s.get(t, redirectURL(s, redirectQuery("fpage@e2e.test", code)), map[string]string{"x-passwordless-user-id": "forged"})
	got := s.upstream.last()
	if a.status != 200 || got.Method != "GET" || !strings.HasPrefix(got.Path, "/passwordless/verify_redirect?") {
		t.Fatalf("got %d, upstream saw %s %s", a.status, got.Method, got.Path)
	}
	if strings.Contains(got.Path, code) || strings.Contains(got.Path, "verification_code") || !strings.Contains(got.Path, "state=st-1") {
		t.Errorf("upstream path %q", got.Path)
	}
	if v := got.Header.Values("x-passwordless-user-id"); len(v) != 1 || v[0] != "u-fpage" {
		t.Errorf("x-passwordless-user-id %q", v)
	}
}

// TestCORS (SPEC 13) through Envoy: the preflight is answered per origin; a cross-origin POST
// from an allowed origin carries the CORS headers, the upstream's answer too in forward mode;
// another origin is refused.
func TestCORS(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	preflight := func(origin string) answer {
		req, err := http.NewRequest(http.MethodOptions, s.envoy.URL+"/passwordless/verify", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-tenant-id", tenant)
		req.Header.Set("origin", origin)
		req.Header.Set("access-control-request-method", "POST")
		return s.do(t, req)
	}
	a := preflight(page)
	want := map[string]string{
		"access-control-allow-origin":  page,
		"access-control-allow-methods": "POST",
		"access-control-allow-headers": "content-type, auth0-client",
		"access-control-max-age":       "600",
		"vary":                         "origin",
	}
	if a.status != 204 {
		t.Fatalf("preflight: %d %s", a.status, a.body)
	}
	for k, v := range want {
		if got := a.header.Get(k); got != v {
			t.Errorf("preflight %s: %q, want %q", k, got, v)
		}
	}
	a = preflight("http://127.0.0.1:3001")
	checkError(t, a, 403, "access_denied", "Origin not allowed", false)
	if a.header.Get("access-control-allow-origin") != "" {
		t.Error("a refused preflight carries CORS headers")
	}

	a = s.verify(t, map[string]string{"origin": page}, verifyBody("s-200@e2e.test", "1"))
	if a.status != 200 || a.header.Get("x-upstream") != "recorder" || a.header.Get("access-control-allow-origin") != page || a.header.Get("vary") != "origin" {
		t.Errorf("allowed origin, forwarded: %d %v", a.status, a.header)
	}
	a = s.verify(t, map[string]string{"origin": page}, verifyBody("s-401@e2e.test", "1"))
	if a.status != 401 || a.header.Get("access-control-allow-origin") != page {
		t.Errorf("allowed origin, wrong code: %d %v", a.status, a.header)
	}
	up := s.upstream.count()
	a = s.verify(t, map[string]string{"origin": "http://127.0.0.1:3001"}, verifyBody("s-200@e2e.test", "1"))
	checkError(t, a, 403, "access_denied", "Origin not allowed", false)
	if s.upstream.count() != up {
		t.Error("a request from a refused origin reached the upstream")
	}
}

// verifiedCode adds a user, has a code issued and verifies it with the POST, for the redirect
// step that follows (it uses the code once more).
func verifiedCode(t *testing.T, s *stack, user, userID string) string {
	t.Helper()
	s.addUser(t, user, userID)
	code := s.code(t, user)
	if a := s.verify(t, nil, verifyBody(user, code)); a.status != 200 {
		t.Fatalf("verify: %d %s", a.status, a.body)
	}
	return code
}
