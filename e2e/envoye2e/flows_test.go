package envoye2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// TestPassThroughStripsIdentity: other traffic reaches the upstream untouched, except that
// client-sent identity headers are gone, on every method and path.
func TestPassThroughStripsIdentity(t *testing.T) {
	s := startStack(t, stackOptions{})
	for _, r := range []struct{ method, path string }{
		{"GET", "/anything?x=1"},
		{"POST", "/other"},
		{"GET", "/passwordless/start"},
		{"PUT", "/passwordless/verifying"},
	} {
		req, err := http.NewRequest(r.method, s.envoy.URL+r.path, strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-passwordless-user-id", "forged")
		req.Header.Set("X-Passwordless-Tenant", "forged")
		req.Header.Set("x-keep", "kept")
		a := s.do(t, req)
		got := s.upstream.last()
		if a.status != 200 || got.Method != r.method || got.Path != r.path {
			t.Fatalf("%s %s: got %d, upstream saw %s %s", r.method, r.path, a.status, got.Method, got.Path)
		}
		if got.Header.Get("x-passwordless-user-id") != "" || got.Header.Get("x-passwordless-tenant") != "" {
			t.Errorf("%s %s: a forged identity header reached the upstream: %v", r.method, r.path, got.Header)
		}
		if got.Header.Get("x-keep") != "kept" || got.Body != "payload" {
			t.Errorf("%s %s: the request was changed: %v %q", r.method, r.path, got.Header, got.Body)
		}
	}
}

// TestStreamedBody: a body in small chunks with pauses between them is buffered whole and
// verified; nothing leaves Envoy before the filter decided.
func TestStreamedBody(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	body := verifyBody("s-200@e2e.test", "123456")
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(body); i += 7 {
			_, _ = pw.Write([]byte(body[i:min(i+7, len(body))]))
			time.Sleep(20 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	a := s.verifyStream(t, pr)
	if a.status != 200 || a.header.Get("x-upstream") != "recorder" {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	if got := s.upstream.last(); got.Header.Get("x-passwordless-user-id") != "u-200" || strings.Contains(got.Body, "123456") {
		t.Errorf("upstream saw %v %q", got.Header, got.Body)
	}
}

// TestStreamed413: a body without content-length that grows past max_request_bytes gets 413
// while the client is still sending; Envoy never buffers it whole.
func TestStreamed413(t *testing.T) {
	s := startStack(t, stackOptions{})
	pr, pw := io.Pipe()
	done := make(chan struct{})
	defer close(done)
	go func() {
		_, _ = pw.Write([]byte(`{"client_id":"`))
		chunk := []byte(strings.Repeat("a", 1024))
		for range 20 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		<-done // never ends the body: the answer must come before it does
		_ = pw.Close()
	}()
	a := s.verifyStream(t, pr)
	checkError(t, a, 413, "invalid_request", "request body is larger than 16384 bytes", false)
	if s.upstream.count() != 0 || s.storeHit.get() != 0 {
		t.Fatal("the request went further than the filter")
	}
}

func (s *stack) verifyStream(t testing.TB, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("x-tenant-id", tenant)
	req.Header.Set("content-type", "application/json")
	return s.do(t, req)
}

// TestPathVariants: with the shipped path normalization, spellings of the verify path reach
// the filter (SPEC 3) and an encoded slash is redirected by Envoy; none reaches the upstream.
func TestPathVariants(t *testing.T) {
	s := startStack(t, stackOptions{})
	for _, path := range []string{
		"//passwordless/verify", "/passwordless/./verify", "/passwordless/%76erify",
		"/passwordless//verify", "/x/../passwordless/verify", "/passwordless/verify?client_id=acme-web",
	} {
		status, body := rawPost(t, s.envoy.URL, path, `{"connection":"email"}`)
		if status != 400 || !strings.Contains(body, "missing client_id parameter") {
			t.Errorf("POST %s: got %d %s, want the filter's 400", path, status, body)
		}
	}
	status, _ := rawPost(t, s.envoy.URL, "/passwordless%2Fverify", `{"connection":"email"}`)
	if status < 300 || status > 399 {
		t.Errorf("POST /passwordless%%2Fverify: got %d, want Envoy's redirect", status)
	}
	if n := s.upstream.count(); n != 0 {
		t.Fatalf("%d path variants reached the upstream", n)
	}
}

// rawPost posts body to path exactly as given (Go's client would clean some of these paths).
func rawPost(t testing.TB, base, path, body string) (int, string) {
	t.Helper()
	a := rawDo(t, base, "POST", path, [][2]string{{"x-tenant-id", "acme"}, {"content-type", "application/json"}}, body)
	return a.status, string(a.body)
}

// TestAttackProtectionAcrossWorkers: failures for one key are counted in shared data across
// Envoy's two worker VMs; once max_attempts is reached the filter answers 429 itself. The
// requests alternate between two connections held open on different workers.
func TestAttackProtectionAcrossWorkers(t *testing.T) {
	s := startStack(t, stackOptions{
		config: func(cfg map[string]any) {
			e2eConfig(cfg)
			set(cfg, "attack_protection.max_attempts", 4)
		},
		bootstrap: exactBalance,
	})
	conns := workerClients(t, s)
	const user = "s-401@e2e.test"
	for i := range 4 {
		a := s.verifyWith(t, conns[i%2], nil, verifyBody(user, "000000"))
		checkError(t, a, 401, "invalid_user_password", "Wrong email or password.", false)
	}
	for i := range 4 {
		a := s.verifyWith(t, conns[i%2], nil, verifyBody(strings.ToUpper(user), "000000"))
		if a.status != 429 || a.errCode != "too_many_attempts" {
			t.Fatalf("after 4 failures: got %d %s", a.status, a.body)
		}
	}
	if n := s.storeHit.get(); n != 4 {
		t.Errorf("the store was called %d times, want 4", n)
	}
	if n := stat(t, s, "wasmcustom.passwordless_verify.error.too_many_attempts"); n != 4 {
		t.Errorf("too_many_attempts counter %d, want 4", n)
	}
}

// exactBalance makes Envoy hand each new connection to the worker with the fewest, instead of
// leaving it to the kernel's hash: two connections held open then land on both workers.
func exactBalance(b *envoyrun.Bootstrap) error {
	listener, err := b.Listener()
	if err != nil {
		return err
	}
	listener["enable_reuse_port"] = false
	listener["connection_balance_config"] = map[string]any{"exact_balance": map[string]any{}}
	return nil
}

// workerClients opens two kept-alive connections, one after the other, and checks with Envoy's
// per-worker stats that they are on different workers.
func workerClients(t testing.TB, s *stack) [2]*http.Client {
	t.Helper()
	var conns [2]*http.Client
	for i := range conns {
		conns[i] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
		t.Cleanup(conns[i].CloseIdleConnections)
		req, err := http.NewRequest(http.MethodGet, s.envoy.URL+"/warm-up", nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := doWith(t, conns[i], req); a.status != 200 {
			t.Fatalf("warm-up: %d", a.status)
		}
	}
	if workers := workerConnections(t, s); len(workers) != 2 || workers[0] != 1 || workers[1] != 1 {
		t.Fatalf("connections per worker %v, want one each", workers)
	}
	return conns
}

var workerCx = regexp.MustCompile(`^listener\.127\.0\.0\.1_\d+\.worker_(\d+)\.downstream_cx_total$`)

func workerConnections(t testing.TB, s *stack) map[int]int {
	t.Helper()
	stats, err := s.envoy.Stats(context.Background(), "downstream_cx_total")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for name, v := range stats {
		if m := workerCx.FindStringSubmatch(name); m != nil {
			var w, n int
			_, _ = fmt.Sscan(m[1], &w)
			_, _ = fmt.Sscan(v, &n)
			out[w] = n
		}
	}
	return out
}

// TestParallelAcrossWorkers: concurrent requests through both workers never lose a count.
func TestParallelAcrossWorkers(t *testing.T) {
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 50)
	}})
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { s.verify(t, nil, verifyBody("s-401@e2e.test", "000000")) })
	}
	wg.Wait()
	// 40 failures counted of 50 allowed: exactly 10 more reach the store, then 429.
	for i := range 12 {
		a := s.verify(t, nil, verifyBody("s-401@e2e.test", "000000"))
		want := 401
		if i >= 10 {
			want = 429
		}
		if a.status != want {
			t.Fatalf("request %d after %d parallel failures: got %d, want %d", i+1, n, a.status, want)
		}
	}
}

// TestPluginConfigErrorStopsEnvoy: a configuration the plugin refuses stops Envoy at start,
// and its log names the field.
func TestPluginConfigErrorStopsEnvoy(t *testing.T) {
	s := startStack(t, stackOptions{noStart: true, config: func(cfg map[string]any) {
		set(cfg, "tenants.acme.clients.acme-web.connections", []any{"email", "nope"})
	}})
	if s.startErr == nil {
		t.Fatal("Envoy started with a configuration the plugin refuses")
	}
	const want = `passwordless_verify: invalid configuration: tenants.acme.clients.acme-web.connections: "nope" is not a connection of this tenant`
	if !strings.Contains(s.log.String(), want) {
		t.Fatalf("Envoy's log does not name the field; want %q in:\n%s", want, s.log.String())
	}
}

// TestWithoutStopIteration records what Envoy does when the flag the README insists on is
// missing: the filter's pause on the headers becomes StopAllIteration-like and the body never
// reaches it, so the verify request hangs until the client gives up.
func TestWithoutStopIteration(t *testing.T) {
	s := startStack(t, stackOptions{bootstrap: func(b *envoyrun.Bootstrap) error {
		w, err := b.Wasm()
		if err != nil {
			return err
		}
		w["allow_on_headers_stop_iteration"] = false
		return nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.envoy.URL+"/passwordless/verify",
		strings.NewReader(`{"connection":"email"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-tenant-id", tenant)
	req.Header.Set("content-type", "application/json")
	resp, err := httpClient.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		t.Fatalf("got %d %s: Envoy no longer needs allow_on_headers_stop_iteration; update the README", resp.StatusCode, b)
	}
	if s.upstream.count() != 0 {
		t.Fatal("the request reached the upstream")
	}
}

// TestClientAddress: attack protection counts per client address. Without trusted hops a
// client cannot pick its address with x-forwarded-for; with xff_num_trusted_hops: 1 (Envoy
// behind one load balancer) the count follows the address the balancer appended.
func TestClientAddress(t *testing.T) {
	limit := func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 2)
	}
	fail := func(s *stack, xff string) int {
		return s.verify(t, map[string]string{"x-forwarded-for": xff}, verifyBody("s-401@e2e.test", "000000")).status
	}
	t.Run("edge", func(t *testing.T) {
		s := startStack(t, stackOptions{config: limit})
		fail(s, "203.0.113.1")
		fail(s, "203.0.113.2")
		if got := fail(s, "203.0.113.3"); got != 429 {
			t.Fatalf("a forged x-forwarded-for escaped the count: got %d, want 429", got)
		}
	})
	t.Run("behind a balancer", func(t *testing.T) {
		s := startStack(t, stackOptions{config: limit, bootstrap: trustOneHop})
		fail(s, "203.0.113.1")
		fail(s, "203.0.113.1")
		if got := fail(s, "203.0.113.1"); got != 429 {
			t.Fatalf("client 203.0.113.1 after 2 failures: got %d, want 429", got)
		}
		if got := fail(s, "203.0.113.2"); got != 401 {
			t.Fatalf("another client behind the balancer: got %d, want 401 (its own count)", got)
		}
	})
}

// trustOneHop puts Envoy behind one trusted proxy: the client is the last x-forwarded-for entry.
func trustOneHop(b *envoyrun.Bootstrap) error {
	hcm, err := b.HCM()
	if err != nil {
		return err
	}
	hcm["xff_num_trusted_hops"] = 1
	return nil
}

// TestLargestBody: at the largest max_request_bytes (1 MiB, Envoy's default buffer limit) a
// body of exactly that size still reaches the filter, declared or chunked, and a declared
// content-length one byte over gets the filter's 413. A chunked body over it meets Envoy's
// own buffer limit before the filter sees the chunk that crosses it: Envoy answers 413 in
// plain text (seen in Envoy 1.40; the README says to keep the limit above max_request_bytes).
// Either way nothing goes upstream.
func TestLargestBody(t *testing.T) {
	const limit = 1 << 20
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "max_request_bytes", limit)
	}})
	body := `{"client_id":"other","connection":"email","username":"a@e2e.test","otp":"1","pad":"` + strings.Repeat("a", limit-100) + `"}`
	body += strings.Repeat(" ", limit-len(body))
	checkError(t, s.verify(t, nil, body), 403, "unauthorized_client", "invalid client", false)
	checkError(t, s.verifyStream(t, strings.NewReader(body)), 403, "unauthorized_client", "invalid client", false)
	checkError(t, s.verify(t, nil, body+" "), 413, "invalid_request", "request body is larger than 1048576 bytes", false)
	if a := s.verifyStream(t, strings.NewReader(body+" ")); a.status != 413 || string(a.body) != "Payload Too Large" {
		t.Errorf("chunked body over Envoy's buffer limit: got %d %q, want Envoy's own 413", a.status, a.body)
	}
	if s.upstream.count() != 0 {
		t.Fatal("a request reached the upstream")
	}
}

// TestHTTP2: over HTTP/2 (h2c) the body arrives in DATA frames and may end with trailers
// instead of end_stream on data; the filter still reads the whole body and decides.
func TestHTTP2(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &protocols}}
	send := func(body string, trailers http.Header) answer {
		req, err := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", io.NopCloser(strings.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-tenant-id", tenant)
		req.Header.Set("content-type", "application/json")
		req.Trailer = trailers
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.ProtoMajor != 2 {
			t.Fatalf("spoke %s, want HTTP/2", resp.Proto)
		}
		b, _ := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, header: resp.Header, body: b}
	}
	if a := send(`{"client_id":"other","connection":"email","username":"a@e2e.test","otp":"1"}`, nil); a.status != 403 {
		t.Errorf("rejected over HTTP/2: %d %s", a.status, a.body)
	}
	a := send(verifyBody("s-200@e2e.test", "123456"), http.Header{"X-Checksum": {"abc"}})
	got := s.upstream.last()
	if a.status != 200 || got.Header.Get("x-passwordless-user-id") != "u-200" || strings.Contains(got.Body, "123456") {
		t.Errorf("verified with trailers over HTTP/2: %d %s; upstream saw %v %q", a.status, a.body, got.Header, got.Body)
	}
}
