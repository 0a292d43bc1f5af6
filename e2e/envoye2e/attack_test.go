package envoye2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const suspiciousText = "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."

// TestParallelGuessesOneKey (SPEC 7, an attempt in flight counts): 20 guesses for one key sent
// at once through both workers, against a store that takes its time. At most max_attempts
// reach the store; the others get 429 at once.
func TestParallelGuessesOneKey(t *testing.T) {
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 3)
	}})
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = s.verify(t, nil, verifyBody(slowFailUser, "000000")).status })
	}
	wg.Wait()
	counts := map[int]int{}
	for _, st := range statuses {
		counts[st]++
	}
	if hits := s.storeHit.get(); hits > 3 || counts[401] != hits || counts[429] != n-hits {
		t.Fatalf("store calls %d, answers %v: want at most 3 store calls, 401 for each, 429 for the rest", hits, counts)
	}
	if workers := workerConnections(t, s); len(workers) != 2 || workers[0] == 0 || workers[1] == 0 {
		t.Errorf("connections per worker %v: the test did not exercise both VMs", workers)
	}
}

// TestIPThrottling (SPEC 7, per-address throttling): failures across usernames from one
// address block that address; another client behind the trusted balancer is unaffected.
func TestIPThrottling(t *testing.T) {
	s := startStack(t, stackOptions{
		config: func(cfg map[string]any) {
			e2eConfig(cfg)
			set(cfg, "attack_protection.ip_max_failures", 3)
		},
		bootstrap: trustOneHop,
	})
	from := func(ip, user string) answer {
		return s.verify(t, map[string]string{"x-forwarded-for": ip}, verifyBody(user, "000000"))
	}
	// Unknown users of the reference store's connection: each fails, each its own attack key.
	s.addUser(t, "known@e2e.test", "u-known")
	for _, user := range []string{"a@e2e.test", "b@e2e.test", "c@e2e.test"} {
		if a := from("203.0.113.1", user); a.status != 401 {
			t.Fatalf("failure for %s: got %d %s", user, a.status, a.body)
		}
	}
	hits := s.storeHit.get()
	checkError(t, from("203.0.113.1", "s-200@e2e.test"), 429, "too_many_attempts", suspiciousText, false)
	if s.storeHit.get() != hits {
		t.Error("a throttled address reached the store")
	}
	if a := from("203.0.113.2", "s-200@e2e.test"); a.status != 200 {
		t.Fatalf("another client: got %d %s", a.status, a.body)
	}
}

// TestSlowStore is the review's reproduction (SPEC 7, an attempt whose outcome is unknown
// stays taken): twelve guesses against a store slower than timeout_ms. Each timed-out call
// may have been judged by the store (the reference store commits after its caller hangs up),
// so at most max_attempts reach it, and they count toward the address's ip_max_failures.
func TestSlowStore(t *testing.T) {
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 5)
		set(cfg, "attack_protection.ip_max_failures", 7)
	}})
	counts := map[int]int{}
	for range 12 {
		counts[s.verify(t, nil, verifyBody(sleepUser, "000000")).status]++
	}
	if hits := s.storeHit.get(); hits != 5 || counts[500] != 5 || counts[429] != 7 {
		t.Fatalf("store calls %d, answers %v: want 5 store calls (500 each) and 429 for the other 7", hits, counts)
	}
	// The five timeouts count toward the address's seven: two more failures, then throttled.
	for range 2 {
		checkError(t, s.verify(t, nil, verifyBody("s-401@e2e.test", "000000")), 401, "invalid_user_password", "Wrong email or password.", false)
	}
	checkError(t, s.verify(t, nil, verifyBody("s-200@e2e.test", "000000")), 429, "too_many_attempts", suspiciousText, false)
}

// TestClientLeaves (SPEC 7): a client that hangs up while the store is asked keeps its
// attempt taken, even when the store then verifies the code (in time for timeout_ms).
func TestClientLeaves(t *testing.T) {
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 2)
	}})
	impatient := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 2 {
		req, err := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", strings.NewReader(verifyBody(slowOKUser, "000000")))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-tenant-id", tenant)
		if resp, err := impatient.Do(req); err == nil {
			_ = resp.Body.Close()
			t.Fatalf("answered %d before the client left", resp.StatusCode)
		}
	}
	waitFor(t, "both calls to reach the store", func() bool { return s.storeHit.get() == 2 })
	time.Sleep(2 * slowFail) // the store has answered both by now
	checkError(t, s.verify(t, nil, verifyBody(slowOKUser, "000000")), 429, "too_many_attempts",
		"Your account has been blocked after multiple consecutive login attempts.", false)
	if s.storeHit.get() != 2 {
		t.Error("a blocked attempt reached the store")
	}
}
