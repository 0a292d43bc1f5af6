package envoye2e

// The shipped Envoy configuration (envoy/local.yaml, the same HTTP as envoy/envoy.yaml) as a
// client meets it: the filter runs only on the routes that need it (issue 18), and those
// routes cover every path and method SPEC 3 has it answer; elsewhere Envoy itself removes
// forged identity headers, in every spelling a CGI/WSGI upstream reads as one (SPEC 9); the
// access log carries the filter's record (SPEC 10).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/pathforms"
)

// The filter's paths in local.yaml's plugin configuration (go test ./envoy checks that the
// routes agree with them).
const (
	verifyPath   = "/passwordless/verify"
	redirectPath = "/passwordless/verify_redirect"
)

var allMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// rawDo sends a request line exactly as given (Go's client would clean or re-encode some of
// these paths) and reads the answer.
func rawDo(t testing.TB, base, method, path string, headers [][2]string, body string) answer {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nhost: %s\r\nconnection: close\r\ncontent-length: %d\r\n", method, path, u.Host, len(body))
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	return readAnswer(t, resp)
}

// ownedRequest is a request SPEC 3 has the filter answer, with a one-time code in it.
func ownedRequest(t testing.TB, s *stack, method, path string) answer {
	t.Helper()
	headers := [][2]string{{"x-tenant-id", tenant}, {"content-type", "application/json"}}
	body := ""
	if method == "POST" || method == "PUT" || method == "PATCH" {
		body = verifyBody("look@e2e.test", "123456")
	}
	return rawDo(t, s.envoy.URL, method, path, headers, body)
}

// wantFilterAnswer: the filter answered (status, and the catalogue's error where there is a
// body), and nothing reached the upstream or the user store.
func wantFilterAnswer(t *testing.T, s *stack, method, path string, a answer, status int, desc string) {
	t.Helper()
	if n := s.upstream.count(); n != 0 {
		t.Fatalf("%s %s: the upstream received %d request(s): %+v", method, path, n, s.upstream.last())
	}
	if n := s.storeHit.get(); n != 0 {
		t.Fatalf("%s %s: the user store was called %d time(s)", method, path, n)
	}
	if a.status != status || method != "HEAD" && (a.errCode != "invalid_request" || a.errDesc != desc) {
		t.Errorf("%s %s: got %d %s, want the filter's %d invalid_request %q", method, path, a.status, a.body, status, desc)
	}
}

// lookalikes are the spellings of the filter's paths that SPEC 3 has it refuse: as they reach
// the router, and as Envoy's normalization turns them into one.
func lookalikes() []string {
	var forms []string
	for _, p := range []string{verifyPath, redirectPath} {
		forms = append(forms, pathforms.Routed(p)...)
		for _, f := range pathforms.Normalized(p) {
			if f.Normal != p {
				forms = append(forms, f.Raw)
			}
		}
	}
	return forms
}

// TestLookalikesNeverReachUpstream (SPEC 3, issue 17 item 4): every lookalike of the filter's
// paths, with every method, is refused by the filter with 404; none reaches the upstream.
func TestLookalikesNeverReachUpstream(t *testing.T) {
	s := startStack(t, stackOptions{})
	for _, path := range lookalikes() {
		for _, m := range allMethods {
			wantFilterAnswer(t, s, m, path, ownedRequest(t, s, m, path), 404, "unknown path")
		}
	}
}

// TestLookalikesReachTheFilterRoute: whatever the filter then does with them, Envoy routes
// every lookalike and every spelling of the filter's paths, with every method, to the route
// that enables the filter. The route is marked for this test, so what reaches the upstream
// says which route sent it.
func TestLookalikesReachTheFilterRoute(t *testing.T) {
	s := startStack(t, stackOptions{bootstrap: func(b *envoyrun.Bootstrap) error {
		hcm, err := b.HCM()
		if err != nil {
			return err
		}
		filterRoute := hcm["route_config"].(map[string]any)["virtual_hosts"].([]any)[0].(map[string]any)["routes"].([]any)[0].(map[string]any)
		filterRoute["request_headers_to_add"] = []any{map[string]any{"header": map[string]any{"key": "x-test-route", "value": "filter"}}}
		return nil
	}})
	paths := lookalikes()
	for _, p := range []string{verifyPath, redirectPath} {
		for _, f := range pathforms.Normalized(p) {
			paths = append(paths, f.Raw)
		}
	}
	for _, path := range paths {
		for _, m := range allMethods {
			before := s.upstream.count()
			ownedRequest(t, s, m, path)
			if s.upstream.count() > before {
				if got := s.upstream.last(); got.Header.Get("x-test-route") != "filter" {
					t.Errorf("%s %s reached the upstream through a route that does not run the filter", m, path)
				}
			}
		}
	}
}

// TestMethodsAnsweredByFilter (SPEC 3): the filter owns its paths for every method, also when
// a spelling reaches them only after Envoy's normalization: 405 with allow; the code in the
// redirect path's query never reaches the access log.
func TestMethodsAnsweredByFilter(t *testing.T) {
	s := startStack(t, stackOptions{})
	const code = "918273"
	for _, c := range []struct {
		path, allow string
		methods     []string
	}{
		{verifyPath, "POST, OPTIONS", []string{"GET", "HEAD", "PUT", "PATCH", "DELETE"}},
		{redirectPath, "GET", []string{"HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}},
	} {
		spellings := []string{c.path}
		for _, f := range pathforms.Normalized(c.path) {
			if f.Normal == c.path {
				spellings = append(spellings, f.Raw)
			}
		}
		for _, path := range spellings {
			for _, m := range c.methods {
				target := path
				if c.path == redirectPath {
					target += "?client_id=acme-web&connection=email&email=a%40e2e.test&verification_code=" + code
				}
				a := ownedRequest(t, s, m, target)
				wantFilterAnswer(t, s, m, target, a, 405, "method not allowed")
				if got := a.header.Get("allow"); got != c.allow {
					t.Errorf("%s %s: allow %q, want %q", m, target, got, c.allow)
				}
			}
		}
	}
	if err := s.envoy.Stop(); err != nil { // flushes the access log
		t.Fatal(err)
	}
	if strings.Contains(s.log.String(), code) {
		t.Error("the code of a refused redirect step is in Envoy's log")
	}
}

// TestScopedRoutes (issue 18): on other paths the Wasm VM is not in the way, and Envoy itself
// removes forged identity headers there. Without the route's removal list the forged header
// arrives: nothing else on those paths, the filter included, would have removed it.
func TestScopedRoutes(t *testing.T) {
	send := func(t *testing.T, s *stack) seen {
		req, err := http.NewRequest("GET", s.envoy.URL+"/account?x=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-passwordless-user-id", "admin")
		req.Header.Set("x-passwordless-tenant", "acme")
		if a := s.do(t, req); a.status != 200 {
			t.Fatalf("got %d %s", a.status, a.body)
		}
		return s.upstream.last()
	}
	t.Run("shipped", func(t *testing.T) {
		got := send(t, startStack(t, stackOptions{}))
		if v := got.Header.Get("x-passwordless-user-id") + got.Header.Get("x-passwordless-tenant"); v != "" {
			t.Fatalf("a forged identity header reached the upstream: %v", got.Header)
		}
	})
	t.Run("without the removal list", func(t *testing.T) {
		s := startStack(t, stackOptions{bootstrap: func(b *envoyrun.Bootstrap) error {
			route, err := otherRoute(b)
			delete(route, "request_headers_to_remove")
			return err
		}})
		if got := send(t, s); got.Header.Get("x-passwordless-user-id") != "admin" {
			t.Fatalf("the forged header was removed by something other than the route (the filter runs there?): %v", got.Header)
		}
	})
}

// otherRoute is local.yaml's catch-all route, the one that does not enable the filter.
func otherRoute(b *envoyrun.Bootstrap) (map[string]any, error) {
	hcm, err := b.HCM()
	if err != nil {
		return map[string]any{}, err
	}
	routes := hcm["route_config"].(map[string]any)["virtual_hosts"].([]any)[0].(map[string]any)["routes"].([]any)
	return routes[len(routes)-1].(map[string]any), nil
}

// wsgiApp answers with the HTTP_X_PASSWORDLESS_* variables of its WSGI environ, the way a
// Python (or CGI, or Rack) application reads its request headers: x_passwordless_user_id
// and x-passwordless-user-id are the same variable there.
const wsgiApp = `import json
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    n = environ.get("CONTENT_LENGTH")
    if n:
        environ["wsgi.input"].read(int(n))
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_X_PASSWORDLESS_")}
    body = json.dumps(seen).encode()
    start_response("200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))])
    return [body]

server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
`

// startWSGI runs wsgiApp with python3's stdlib wsgiref on a free loopback port.
func startWSGI(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 runs the WSGI upstream: %v", err)
	}
	script := filepath.Join(t.TempDir(), "upstream.py")
	if err := os.WriteFile(script, []byte(wsgiApp), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("WSGI upstream: %v", err)
	}
	return "127.0.0.1:" + strings.TrimSpace(port)
}

// environ is what the WSGI application saw.
func environ(t *testing.T, a answer) map[string]string {
	t.Helper()
	var env map[string]string
	if a.status != 200 || json.Unmarshal(a.body, &env) != nil {
		t.Fatalf("the WSGI upstream did not answer: %d %s", a.status, a.body)
	}
	return env
}

// TestUnderscoreIdentityWSGI (SPEC 9, issue 17 item 1): forged identity headers spelled with
// underscores never reach a WSGI upstream, on pass-through and in forward mode, where only
// the real identity arrives. The last case shows the upstream would read them without the
// shipped settings.
func TestUnderscoreIdentityWSGI(t *testing.T) {
	forged := map[string]string{"x_passwordless_user_id": "admin", "x-passwordless_tenant": "evil"}
	passThrough := func(t *testing.T, s *stack) map[string]string {
		req, err := http.NewRequest("GET", s.envoy.URL+"/account", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range forged {
			req.Header[k] = []string{v} // as spelled: Go would otherwise canonicalize the name
		}
		return environ(t, s.do(t, req))
	}
	wsgi := func(cfg func(map[string]any), edit func(*envoyrun.Bootstrap) error) *stack {
		upstream := startWSGI(t)
		return startStack(t, stackOptions{config: cfg, bootstrap: func(b *envoyrun.Bootstrap) error {
			if edit != nil {
				if err := edit(b); err != nil {
					return err
				}
			}
			return b.SetCluster("upstream", upstream)
		}})
	}

	s := wsgi(forwardConfig, nil)
	t.Run("pass-through", func(t *testing.T) {
		if env := passThrough(t, s); len(env) != 0 {
			t.Errorf("the WSGI upstream read forged identities: %v", env)
		}
	})
	t.Run("forward", func(t *testing.T) {
		s.addUser(t, "wsgi@e2e.test", "u-wsgi")
		env := environ(t, s.verify(t, forged, verifyBody("wsgi@e2e.test", s.code(t, "wsgi@e2e.test"))))
		want := map[string]string{"HTTP_X_PASSWORDLESS_USER_ID": "u-wsgi", "HTTP_X_PASSWORDLESS_TENANT": tenant}
		if fmt.Sprint(env) != fmt.Sprint(want) {
			t.Errorf("the WSGI upstream read %v, want only the real identity %v", env, want)
		}
	})
	t.Run("underscores allowed", func(t *testing.T) {
		s := wsgi(nil, func(b *envoyrun.Bootstrap) error {
			hcm, err := b.HCM()
			if err != nil {
				return err
			}
			hcm["common_http_protocol_options"] = map[string]any{"headers_with_underscores_action": "ALLOW"}
			route, err := otherRoute(b)
			route["request_headers_to_remove"] = []any{"x-passwordless-user-id", "x-passwordless-tenant"}
			return err
		})
		if env := passThrough(t, s); env["HTTP_X_PASSWORDLESS_USER_ID"] != "admin" {
			t.Errorf("without DROP_HEADER the WSGI upstream should read the forged identity; it read %v", env)
		}
	})
}

// TestAccessLogRecord (SPEC 10): Envoy's access log line of a request the filter handled ends
// with its record, the JSON it set as filter state, whose request_id is the one Envoy logs
// (Envoy makes its own at the edge); other requests print "-" there. A verified request's
// record is set while the store's answer is handled, outside a request callback; neither the
// code nor the username is in the log.
func TestAccessLogRecord(t *testing.T) {
	s := startStack(t, stackOptions{})
	a := s.verify(t, map[string]string{"user-agent": "log-1"},
		`{"client_id":"acme-web","connection":"sms","username":"log@e2e.test","otp":"123456"}`)
	if a.status != 400 || a.errCode != "bad.connection" {
		t.Fatalf("disabled connection: got %d %s", a.status, a.body)
	}
	s.get(t, s.envoy.URL+"/elsewhere", map[string]string{"user-agent": "log-2"})
	const user = "rec0rd-user@e2e.test"
	s.addUser(t, user, "u-log")
	code := s.code(t, user)
	if a := s.verify(t, map[string]string{"user-agent": "log-3"}, verifyBody(user, code)); a.status != 200 {
		t.Fatalf("verify: got %d %s", a.status, a.body)
	}
	if err := s.envoy.Stop(); err != nil { // flushes the access log
		t.Fatal(err)
	}
	// The line ends "<user-agent>" "<x-request-id>" "<authority>" "<upstream>" passwordless_verify=<record>.
	record, requestID := map[string]string{}, map[string]string{}
	for _, l := range strings.Split(s.log.String(), "\n") {
		for _, ua := range []string{"log-1", "log-2", "log-3"} {
			if _, rest, ok := strings.Cut(l, `"`+ua+`" "`); ok {
				requestID[ua], _, _ = strings.Cut(rest, `"`)
				_, record[ua], _ = strings.Cut(rest, " passwordless_verify=")
			}
		}
	}
	for ua, want := range map[string]map[string]string{
		"log-1": {"tenant": tenant, "client_id": client, "connection": "sms", "outcome": "bad.connection", "request_id": requestID["log-1"]},
		"log-3": {"tenant": tenant, "client_id": client, "connection": connection, "outcome": "verified", "request_id": requestID["log-3"]},
	} {
		var rec map[string]string
		if err := json.Unmarshal([]byte(record[ua]), &rec); err != nil {
			t.Fatalf("%s: the handled request's access log record %q is not the filter's JSON: %v", ua, record[ua], err)
		}
		if requestID[ua] == "" || fmt.Sprint(rec) != fmt.Sprint(want) {
			t.Errorf("%s: record %v, want %v", ua, rec, want)
		}
	}
	if record["log-2"] != "-" {
		t.Errorf("a pass-through request's record is %q, want -", record["log-2"])
	}
	for _, secret := range []string{code, user} {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(secret) + `\b`).MatchString(s.log.String()) {
			t.Errorf("%q is in Envoy's output", secret)
		}
	}
}
