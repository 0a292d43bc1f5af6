package envoye2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// The fleet tests (SPEC 14) run two Envoys, each with two workers, in front of one user store,
// with one real rate-limit service and one real Redis. Each test part sends from its own
// loopback address (127.0.0.N: Linux routes all of 127/8 to lo), so the parts share one
// fleet without sharing a count.

var (
	textPerKey     = filter.Catalogue[filter.ErrTooManyAttempts].Text
	textSuspicious = filter.Catalogue[filter.ErrSuspiciousIP].Text
)

// globalConfig turns on SPEC 14's fleet-wide limits against the stack's service.
func globalConfig(deny bool) func(cfg map[string]any) {
	return func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.global", map[string]any{"cluster": "ratelimit", "failure_mode_deny": deny})
	}
}

// clientFrom sends from ip, a loopback address, without keep-alive: each request its own
// connection, so Envoy's workers share the requests.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       20 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// verifyOn POSTs a verify request to one replica.
func (s *stack) verifyOn(t testing.TB, e *envoyrun.Envoy, c *http.Client, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+"/passwordless/verify", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-tenant-id", tenant)
	req.Header.Set("content-type", "application/json")
	return doWith(t, c, req)
}

// statOn reads one of the plugin's counters from one replica.
func statOn(t testing.TB, e *envoyrun.Envoy, name string) int {
	t.Helper()
	return stat(t, &stack{envoy: e}, "wasmcustom.passwordless_verify."+name)
}

// fleetStat sums a counter over the replicas.
func (s *stack) fleetStat(t testing.TB, name string) int {
	t.Helper()
	n := 0
	for _, e := range s.envoys {
		n += statOn(t, e, name)
	}
	return n
}

// tally counts answers by status.
func tally(as []answer) map[int]int {
	out := map[int]int{}
	for _, a := range as {
		out[a.status]++
	}
	return out
}

// TestFleet: guesses spread over both replicas reach the store at most max_attempts times in
// total; many usernames from one address meet the per-address limit across replicas;
// parallel guesses over both replicas and all four workers never get past the limit; the
// redirect step counts toward it too; and what the service logs names our descriptors, never
// a username or a code.
func TestFleet(t *testing.T) {
	s := startStack(t, stackOptions{
		replicas:  2,
		config:    globalConfig(false),
		bootstrap: exactBalance,
		rateLimit: &ratelimitrun.Options{LogLevel: "debug", StatsEach: 500 * time.Millisecond},
	})
	userLimit, ipLimit := 10, 100             // envoy/ratelimit/passwordless_verify.yaml (checked in e2e/ratelimitrun)
	s.addUser(t, "known@e2e.test", "u-known") // the store then knows the connection: other users are wrong guesses
	const code = "918273"

	t.Run("guesses spread over the replicas", func(t *testing.T) {
		ratelimitrun.InOneWindow(t, func(try int) error {
			c := clientFrom(fmt.Sprintf("127.0.1.%d", try+1))
			user := fmt.Sprintf("Spread%d@e2e.test", try)
			hits, overLimit := s.storeHit.get(), s.fleetStat(t, "global_over_limit")
			for i := range 3 * userLimit {
				a := s.verifyOn(t, s.envoys[i%2], c, verifyBody(user, code))
				want := 401
				if i >= userLimit {
					want = 429
				}
				if a.status != want || want == 429 && a.errDesc != textPerKey {
					return fmt.Errorf("guess %d on replica %d: %d %s, want %d", i+1, i%2+1, a.status, a.body, want)
				}
			}
			if n := s.storeHit.get() - hits; n != userLimit {
				return fmt.Errorf("%d guesses reached the store, want %d", n, userLimit)
			}
			if n := s.fleetStat(t, "global_over_limit") - overLimit; n != 2*userLimit {
				return fmt.Errorf("global_over_limit grew by %d, want %d", n, 2*userLimit)
			}
			return nil
		})
	})

	t.Run("one address, many usernames", func(t *testing.T) {
		ratelimitrun.InOneWindow(t, func(try int) error {
			c := clientFrom(fmt.Sprintf("127.0.2.%d", try+1))
			hits := s.storeHit.get()
			for i := range ipLimit + 5 {
				a := s.verifyOn(t, s.envoys[i%2], c, verifyBody(fmt.Sprintf("many%d-%d@e2e.test", try, i), code))
				if i < ipLimit && a.status != 401 {
					return fmt.Errorf("username %d: %d %s, want 401", i+1, a.status, a.body)
				}
				if i >= ipLimit && (a.status != 429 || a.errDesc != textSuspicious) {
					return fmt.Errorf("username %d past the per-address limit: %d %s, want 429 with the suspicious-IP text", i+1, a.status, a.body)
				}
			}
			if n := s.storeHit.get() - hits; n != ipLimit {
				return fmt.Errorf("%d attempts reached the store, want %d", n, ipLimit)
			}
			return nil
		})
	})

	t.Run("parallel over both replicas and four workers", func(t *testing.T) {
		ratelimitrun.InOneWindow(t, func(try int) error {
			// Two kept-alive connections per replica, one on each of its workers.
			var conns []*http.Client
			for _, e := range s.envoys {
				for _, c := range workerClientsFrom(t, e, fmt.Sprintf("127.0.3.%d", try+1)) {
					conns = append(conns, c)
				}
			}
			hits := s.storeHit.get()
			const perConn = 10
			answers := make([]answer, len(conns)*perConn)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() {
					e := s.envoys[i%len(conns)/2]
					answers[i] = s.verifyOn(t, e, conns[i%len(conns)], verifyBody(slowFailUser, code))
				})
			}
			wg.Wait()
			got := tally(answers)
			if n := s.storeHit.get() - hits; n != userLimit || got[401] != userLimit || got[429] != len(answers)-userLimit {
				return fmt.Errorf("%d reached the store, answers %v: want %d, each a 401, and 429 for the rest", n, got, userLimit)
			}
			return nil
		})
	})

	t.Run("the redirect step asks too", func(t *testing.T) {
		ratelimitrun.InOneWindow(t, func(try int) error {
			c := clientFrom(fmt.Sprintf("127.0.4.%d", try+1))
			user := fmt.Sprintf("redirect%d@e2e.test", try)
			for i := range userLimit + 2 {
				e := s.envoys[i%2]
				var errCode, errDesc string
				if i%4 < 2 { // two POSTs, then two redirect steps, and so on
					a := s.verifyOn(t, e, c, verifyBody(user, code))
					errCode, errDesc = a.errCode, a.errDesc
				} else {
					q := redirectQuery(user, code)
					a := doWith(t, c, redirectRequest(t, e, q))
					loc, err := url.Parse(a.header.Get("location"))
					if a.status != 302 || err != nil {
						return fmt.Errorf("redirect step %d: %d %q", i+1, a.status, a.header.Get("location"))
					}
					errCode, errDesc = loc.Query().Get("error"), loc.Query().Get("error_description")
				}
				want := "invalid_user_password"
				if i >= userLimit {
					want = "too_many_attempts"
				}
				if errCode != want {
					return fmt.Errorf("attempt %d: %s %q, want %s", i+1, errCode, errDesc, want)
				}
			}
			return nil
		})
	})

	t.Run("the service's log and stats", func(t *testing.T) {
		key := ratelimitrun.UserKey(tenant, connection, "spread0@e2e.test")
		for _, want := range []string{
			"(tenant=acme),(connection=email),(user=" + key + "),(client_ip=127.0.1.",
			"ratelimit.service.rate_limit.passwordless_verify.tenant.connection.user.client_ip.total_hits",
			"ratelimit.service.rate_limit.passwordless_verify.tenant.client_ip.over_limit",
		} {
			waitFor(t, want+" in the service's output", func() bool { return strings.Contains(s.rlLog.String(), want) })
		}
		out := strings.ToLower(s.rlLog.String())
		for _, secret := range []string{"e2e.test", code, "spread0"} {
			if strings.Contains(out, secret) {
				t.Errorf("the service's output holds %q", secret)
			}
		}
	})
}

// redirectRequest is the redirect step's GET on one replica.
func redirectRequest(t testing.TB, e *envoyrun.Envoy, q url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.URL+"/passwordless/verify_redirect?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-tenant-id", tenant)
	return req
}

// workerClientsFrom opens two kept-alive connections from ip to one replica and checks that
// they landed on its two workers (the replica balances connections exactly).
func workerClientsFrom(t testing.TB, e *envoyrun.Envoy, ip string) [2]*http.Client {
	t.Helper()
	before := workerConnections(t, &stack{envoy: e})
	var conns [2]*http.Client
	for i := range conns {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		conns[i] = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}}
		t.Cleanup(conns[i].CloseIdleConnections)
		req, err := http.NewRequest(http.MethodGet, e.URL+"/warm-up", nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := doWith(t, conns[i], req); a.status != 200 {
			t.Fatalf("warm-up: %d", a.status)
		}
	}
	after := workerConnections(t, &stack{envoy: e})
	if after[0]-before[0] != 1 || after[1]-before[1] != 1 {
		t.Fatalf("new connections per worker %v → %v, want one on each", before, after)
	}
	return conns
}

// TestFleetFaults: what a failed call to the service means, on a replica with
// failure_mode_deny false (the first) and one with true (the second). The service here allows
// far more than the plugin's local limits, so those are what a test meets.
func TestFleetFaults(t *testing.T) {
	s := startStack(t, stackOptions{
		replicas: 2,
		config:   globalConfig(false),
		replicaConfig: func(i int, cfg map[string]any) {
			set(cfg, "attack_protection.global.failure_mode_deny", i == 1)
		},
		rateLimit: &ratelimitrun.Options{Config: []byte(`domain: passwordless_verify
descriptors:
  - key: tenant
    descriptors:
      - key: connection
        descriptors:
          - key: user
            descriptors:
              - {key: client_ip, rate_limit: {unit: hour, requests_per_unit: 100000}}
      - {key: client_ip, rate_limit: {unit: hour, requests_per_unit: 100000}}
`)},
	})
	open, deny := s.envoys[0], s.envoys[1]
	s.addUser(t, "known@e2e.test", "u-known")
	rl := s.rl
	const maxAttempts = 10 // envoy/local.yaml
	n := 0
	user := func() string { n++; return fmt.Sprintf("fault%d@e2e.test", n) }
	c := clientFrom("127.0.5.1")

	// failedCall checks one wrong guess on each replica while the service fails: the first
	// goes on to the store (401), the second answers 500 without a store call; both count a
	// failed call.
	failedCall := func(t *testing.T) {
		t.Helper()
		failures := s.fleetStat(t, "global_failures")
		hits := s.storeHit.get()
		if a := s.verifyOn(t, open, c, verifyBody(user(), "000000")); a.status != 401 {
			t.Errorf("failure_mode_deny false: %d %s, want 401 from the store", a.status, a.body)
		}
		if s.storeHit.get() != hits+1 {
			t.Errorf("failure_mode_deny false: the store was not asked")
		}
		checkError(t, s.verifyOn(t, deny, c, verifyBody(user(), "000000")), 500, "server_error", serverErrorText, false)
		if s.storeHit.get() != hits+1 {
			t.Errorf("failure_mode_deny true: the store was asked")
		}
		if got := s.fleetStat(t, "global_failures") - failures; got != 2 {
			t.Errorf("global_failures grew by %d, want 2", got)
		}
	}

	t.Run("service slower than timeout_ms", func(t *testing.T) {
		if err := rl.Service.Pause(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rl.Service.Resume() }()
		start := time.Now()
		failedCall(t)
		if d := time.Since(start); d < 2*200*time.Millisecond {
			t.Errorf("two calls to a paused service took %v: not the 200 ms timeout each", d)
		}
	})

	t.Run("Redis down", func(t *testing.T) {
		rl.Redis.Kill()
		failedCall(t)
		if err := rl.Redis.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("client leaves during the call", func(t *testing.T) {
		if err := rl.Service.Pause(); err != nil {
			t.Fatal(err)
		}
		leaver := clientFrom("127.0.5.2")
		leaver.Timeout = 50 * time.Millisecond
		// leaveThrice sends three guesses for u that the client gives up on; it returns the
		// status of one that was answered first, 0 when none was.
		leaveThrice := func(u string) int {
			for range 3 {
				req, err := http.NewRequest(http.MethodPost, open.URL+"/passwordless/verify", strings.NewReader(verifyBody(u, "000000")))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("x-tenant-id", tenant)
				req.Header.Set("content-type", "application/json")
				if resp, err := leaver.Do(req); err == nil {
					_ = resp.Body.Close()
					return resp.StatusCode
				}
			}
			return 0
		}
		u, hits := user(), s.storeHit.get()
		// A connection of Envoy's pool that the service closed before the pause (its answers
		// while Redis was down) can fail at once, and failure_mode_deny false then asks the
		// store: that guess is answered and counted, so start again with another user.
		for try := 1; ; try++ {
			status := leaveThrice(u)
			if status == 0 {
				break
			}
			if try == 3 {
				t.Fatalf("an answer %d before the paused service's, three times", status)
			}
			t.Logf("an answer %d before the paused service's (a pooled connection failed at once): again with another user", status)
			u, hits = user(), s.storeHit.get()
		}
		time.Sleep(300 * time.Millisecond) // past the call's timeout: a callback would have run
		if err := rl.Service.Resume(); err != nil {
			t.Fatal(err)
		}
		if got := s.storeHit.get(); got != hits {
			t.Fatalf("%d store calls after the client left", got-hits)
		}
		// The three attempts were given back: all of max_attempts still reach the store.
		s.guessUntilBlocked(t, open, clientFrom("127.0.5.2"), u, maxAttempts)
	})

	t.Run("service down", func(t *testing.T) {
		rl.Service.Kill()
		failedCall(t)
		// failure_mode_deny false: the local limits of SPEC 7 still hold.
		s.guessUntilBlocked(t, open, c, user(), maxAttempts)
	})
}

// guessUntilBlocked sends wrong guesses for user to one replica: the first n must reach the
// store (401), the next must get 429.
func (s *stack) guessUntilBlocked(t *testing.T, e *envoyrun.Envoy, c *http.Client, user string, n int) {
	t.Helper()
	for i := range n + 1 {
		a := s.verifyOn(t, e, c, verifyBody(user, "000000"))
		want := 401
		if i == n {
			want = 429
		}
		if a.status != want {
			t.Fatalf("guess %d: %d %s, want %d", i+1, a.status, a.body, want)
		}
	}
}
