package envoye2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The review's reproductions of issue 17 through the real Envoy (SPEC 3, 4, 5, 12 and 13).

// TestFilterPathsEveryMethod (SPEC 3): the filter owns its paths for every method, and refuses
// their lookalikes for every method, before the tenant; the code the redirect path carries
// reaches neither the upstream nor Envoy's access log. Forward mode, where a request let
// through would reach the upstream.
func TestFilterPathsEveryMethod(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	const code = "Q7ZX41"
	body := verifyBody("s-200@e2e.test", code)
	redirect := "/passwordless/verify_redirect?client_id=acme-web&email=a%40e2e.test&verification_code=" + code
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PUT", "/passwordless/verify", 405, "POST, OPTIONS"},
		{"PATCH", "/passwordless/verify", 405, "POST, OPTIONS"},
		{"GET", "/passwordless/verify?otp=" + code, 405, "POST, OPTIONS"},
		{"HEAD", "/passwordless/verify", 405, "POST, OPTIONS"},
		{"DELETE", "/passwordless/verify", 405, "POST, OPTIONS"},
		{"HEAD", redirect, 405, "GET"},
		{"POST", redirect, 405, "GET"},
		{"OPTIONS", redirect, 405, "GET"},
		{"POST", "/Passwordless/Verify", 404, ""},
		{"POST", "/passwordless/verify/", 404, ""},
		{"POST", "/passwordless/verify;a=b", 404, ""},
		{"PUT", "/PASSWORDLESS/VERIFY;jsessionid=1/", 404, ""},
		{"GET", "/passwordless/Verify_Redirect" + redirect[len("/passwordless/verify_redirect"):], 404, ""},
		{"HEAD", "/passwordless/verify_redirect/" + redirect[len("/passwordless/verify_redirect"):], 404, ""},
	} {
		name := c.method + " " + c.path
		// No tenant header: these answers come before the tenant.
		a := rawDo(t, s.envoy.URL, c.method, c.path, [][2]string{{"content-type", "application/json"}}, body)
		if a.status != c.status || a.header.Get("allow") != c.allow {
			t.Errorf("%s: got %d allow %q, want %d allow %q", name, a.status, a.header.Get("allow"), c.status, c.allow)
			continue
		}
		if c.method == "HEAD" {
			continue // no body to read
		}
		want := map[int]string{405: "method not allowed", 404: "unknown path"}[c.status]
		if a.errCode != "invalid_request" || a.errDesc != want {
			t.Errorf("%s: %s, want invalid_request %q", name, a.body, want)
		}
	}
	if n, hits := s.upstream.count(), s.storeHit.get(); n != 0 || hits != 0 {
		t.Fatalf("%d requests reached the upstream and %d the store", n, hits)
	}
	if err := s.envoy.Stop(); err != nil { // flushes the access log
		t.Fatal(err)
	}
	if logged := s.log.String(); !strings.Contains(logged, "verify_redirect?") || strings.Contains(logged, code) {
		t.Errorf("Envoy's access log lacks the requests or carries the code:\n%s", logged)
	}
}

// TestSemicolonIsNotASeparator (SPEC 12.1 and 4), the review's reproduction in forward mode: a
// raw `;` in the redirect query could give an upstream that splits on it another redirect_uri
// than the one the filter checked; in a form body, other fields.
func TestSemicolonIsNotASeparator(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	const text = `";" is not a separator; encode it as %3B`
	q := redirectQuery("s-200@e2e.test", "123456").Encode() + "&x=1;redirect_uri=https://evil.example/steal"
	checkError(t, s.get(t, s.envoy.URL+"/passwordless/verify_redirect?"+q, nil), 400, "invalid_request", text, false)
	form := "client_id=acme-web&connection=email&username=s-200%40e2e.test&otp=1;connection=other"
	checkError(t, s.verify(t, map[string]string{"content-type": "application/x-www-form-urlencoded"}, form), 400, "invalid_request", text, false)
	// Encoded, it is a character like any other.
	a := s.verify(t, map[string]string{"content-type": "application/x-www-form-urlencoded"},
		"client_id=acme-web&connection=email&username=s-200%40e2e.test&otp=1%3B2")
	if a.status != 200 || s.upstream.count() != 1 {
		t.Fatalf("an encoded %%3B: got %d %s, %d upstream", a.status, a.body, s.upstream.count())
	}
}

// TestTenantHeaderTwice (SPEC 5 row 2): the filter and the upstream must not read different
// tenants from one request.
func TestTenantHeaderTwice(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	req, err := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", strings.NewReader(verifyBody("s-200@e2e.test", "1")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("x-tenant-id", tenant)
	req.Header.Add("x-tenant-id", "globex")
	req.Header.Set("content-type", "application/json")
	checkError(t, s.do(t, req), 400, "bad.tenant", "error in tenant - tenant validation failed: ", true)
	if s.upstream.count() != 0 || s.storeHit.get() != 0 {
		t.Fatal("the request went further than the filter")
	}
}

// TestRedirectWithBody (SPEC 12.1): the redirect step takes no body, decided on the headers,
// whether its length is declared or chunked; nothing is buffered or forwarded.
func TestRedirectWithBody(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	target := s.envoy.URL + "/passwordless/verify_redirect?" + redirectQuery("s-200@e2e.test", "123456").Encode()
	for _, chunked := range []bool{false, true} {
		req, err := http.NewRequest(http.MethodGet, target, strings.NewReader(strings.Repeat("x", 900<<10)))
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("x-tenant-id", tenant)
		checkError(t, s.do(t, req), 400, "invalid_request", "verify_redirect takes no body", false)
	}
	if s.upstream.count() != 0 || s.storeHit.get() != 0 {
		t.Fatal("the request went further than the filter")
	}
}

// TestOwnHTTPSOrigin (SPEC 13): behind a balancer that ends TLS, Envoy sees :scheme http while
// the page is https://<authority>; that origin is the request's own, not a cross-origin call.
func TestOwnHTTPSOrigin(t *testing.T) {
	s := startStack(t, stackOptions{config: e2eConfig})
	u, err := url.Parse(s.envoy.URL)
	if err != nil {
		t.Fatal(err)
	}
	a := s.verify(t, map[string]string{"origin": "https://" + u.Host}, verifyBody("s-200@e2e.test", "1"))
	if a.status != 200 || a.header.Get("access-control-allow-origin") != "" {
		t.Errorf("own https origin: %d %s, allow-origin %q", a.status, a.body, a.header.Get("access-control-allow-origin"))
	}
	checkError(t, s.verify(t, map[string]string{"origin": "https://evil.example"}, verifyBody("s-200@e2e.test", "1")),
		403, "access_denied", "Origin not allowed", false)
}
