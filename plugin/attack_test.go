package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// switchStore answers 401 invalid_user_password until ok is set.
type switchStore struct {
	ok    atomic.Bool
	calls atomic.Int64
}

func (s *switchStore) RoundTrip(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
	s.calls.Add(1)
	if s.ok.Load() {
		return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "200"}}, Body: []byte(`{"user_id":"u"}`)}, nil
	}
	return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "401"}}, Body: []byte(`{"error":"invalid_user_password"}`)}, nil
}

func TestAttackProtection(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &switchStore{}
		vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": 3, "window_seconds": 600}`),
			map[string]wasmhost.Cluster{"userstore": store})
		try := func(username, source string) outcome {
			body := `{"client_id":"acme-web","connection":"email","username":"` + username + `","otp":"1"}`
			return vm.do(t, request{headers: [][2]string{{"x-tenant-id", "acme"}}, body: body, source: source + ":1234"})
		}
		for i := 0; i < 3; i++ {
			checkError(t, try("a@example.com", "10.0.0.1"), filter.ErrWrongCode, "")
		}
		// The key is case-insensitive on the username and ignores the source port.
		checkError(t, try("A@EXAMPLE.COM", "10.0.0.1"), filter.ErrTooManyAttempts, "")
		if store.calls.Load() != 3 {
			t.Errorf("%d store calls; a blocked attempt must not reach the store", store.calls.Load())
		}
		// Another IP, or another user, is a different key.
		checkError(t, try("a@example.com", "10.0.0.2"), filter.ErrWrongCode, "")
		store.ok.Store(true)
		if got := try("b@example.com", "10.0.0.1"); got.status != 200 {
			t.Fatalf("other user: %d", got.status)
		}
		// A success clears the key: 10.0.0.2 had one failure, succeeds, then has three again.
		if got := try("a@example.com", "10.0.0.2"); got.status != 200 {
			t.Fatalf("success: %d", got.status)
		}
		store.ok.Store(false)
		for i := 0; i < 3; i++ {
			checkError(t, try("a@example.com", "10.0.0.2"), filter.ErrWrongCode, "")
		}
		checkError(t, try("a@example.com", "10.0.0.2"), filter.ErrTooManyAttempts, "")
	})
}

// TestAttackProtectionAcrossWorkers: Envoy workers are separate VMs sharing one shared-data
// store; concurrent failures must all be counted (wasm mode only: proxytest has one VM).
func TestAttackProtectionAcrossWorkers(t *testing.T) {
	const workers, perWorker = 4, 5
	store := &switchStore{}
	shared := wasmhost.NewSharedData()
	cfg := configWith(fmt.Sprintf(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": %d}`, workers*perWorker))
	vms := make([]*wasmVM, workers)
	for i := range vms {
		vm, err := startWasm(t, cfg, map[string]wasmhost.Cluster{"userstore": store}, shared)
		if err != nil {
			t.Fatal(err)
		}
		vms[i] = vm
	}
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perWorker; j++ {
				vm.do(t, acme(validBody))
			}
		}()
	}
	wg.Wait()
	got := vms[0].do(t, acme(validBody))
	checkError(t, got, filter.ErrTooManyAttempts, "")
	if n := store.calls.Load(); n != workers*perWorker {
		t.Errorf("%d store calls, want %d", n, workers*perWorker)
	}
}

// TestCodeNeverLogged: SPEC 9 and 10; the code must not appear in a log line, the access-log
// record or an error, on any path, even when the client puts it where a key belongs; nor the
// username in a log line or the record.
func TestCodeNeverLogged(t *testing.T) {
	const code, user = "S3CRET-0TP", "U5ER-N4ME"
	form := [2]string{"content-type", "application/x-www-form-urlencoded"}
	vmTest(t, func(t *testing.T, h *harness) {
		for _, store := range []wasmhost.Cluster{okStore(), storeReply("401", `{"error":"invalid_user_password"}`), storeReply("500", "")} {
			vm := h.mustStart(t, withLogRequests(testConfig), map[string]wasmhost.Cluster{"userstore": store})
			var outs []outcome
			for _, r := range []request{
				acme(`{"client_id":"acme-web","connection":"email","username":"` + user + `","otp":"` + code + `"}`),
				acme(`{"client_id":"acme-web","connection":"sms","username":"` + user + `","otp":"` + code + `"}`),
				acme(`{"client_id":"acme-web","connection":"email","username":"` + user + `","otp":"` + code + `","otp":"x"}`),
				// A JSON body labelled as a form: the whole text becomes one dotted key.
				acme(`{"u":"a.b","otp":"`+code+`"}`, form),
				acme(`{"` + code + `":1,"` + code + `":2}`),
				acme(`{"` + code + `.x":1}`),
				acme(code+`.x=1`, form),
			} {
				got := vm.do(t, r)
				if strings.Contains(string(got.body), code) && !got.forwarded {
					t.Errorf("answer %d carries the code: %s", got.status, got.body)
				}
				outs = append(outs, got)
			}
			checkNeverRecorded(t, vm, outs, code, user)
		}
	})
}

// checkNeverRecorded fails when a secret is in a log line or a record; there must be both,
// or the test would prove nothing.
func checkNeverRecorded(t *testing.T, vm filterVM, outs []outcome, secrets ...string) {
	t.Helper()
	texts := vm.logs()
	if len(requestLines(vm)) == 0 {
		t.Fatal("no log_requests lines: the test would prove nothing")
	}
	for _, o := range outs {
		if o.record == "" {
			t.Fatal("a request without a record: the test would prove nothing")
		}
		texts = append(texts, o.record)
	}
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("a log line or record carries %q: %s", s, text)
			}
		}
	}
}

// otpStore answers by the code sent: "ok" verifies, "down" is a 503, "blocked" is a blocked
// user, "fault" goes to fault, anything else is a wrong code. It counts its calls.
type otpStore struct {
	calls atomic.Int64
	fault wasmhost.Cluster
}

func (s *otpStore) RoundTrip(ctx context.Context, r *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
	s.calls.Add(1)
	var req struct{ OTP string }
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return nil, err
	}
	switch req.OTP {
	case "ok":
		return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "200"}}, Body: []byte(`{"user_id":"u"}`)}, nil
	case "down":
		return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "503"}}}, nil
	case "blocked":
		return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "401"}}, Body: []byte(`{"error":"unauthorized"}`)}, nil
	case "fault":
		return s.fault.RoundTrip(ctx, r)
	}
	return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "401"}}, Body: []byte(`{"error":"invalid_user_password"}`)}, nil
}

// attemptReq is a verify request for user from address ip with code otp.
func attemptReq(user, ip, otp string) request {
	r := acme(`{"client_id":"acme-web","connection":"email","username":"` + user + `","otp":"` + otp + `"}`)
	r.source = ip + ":4321"
	return r
}

func protectionConfig(ap string) string {
	return configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {` + ap + `}`)
}

func countKinds(got []outcome) map[uint32]int {
	n := map[uint32]int{}
	for _, o := range got {
		n[o.status]++
	}
	return n
}

// TestParallelAttemptsForOneKey: SPEC 7, an attempt in flight counts. Ten requests for one
// key arrive before any store answer: only max_attempts reach the store.
func TestParallelAttemptsForOneKey(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{}
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 3`), map[string]wasmhost.Cluster{"userstore": store})
		rs := make([]request, 10)
		for i := range rs {
			rs[i] = attemptReq("a@example.com", "10.0.0.1", "bad")
		}
		got := vm.doAll(t, rs)
		if n := store.calls.Load(); n != 3 {
			t.Errorf("%d store calls, want 3", n)
		}
		if k := countKinds(got); k[401] != 3 || k[429] != 7 {
			t.Errorf("answers %v, want 3×401 and 7×429", k)
		}
		for _, o := range got {
			if o.status == 429 {
				checkError(t, o, filter.ErrTooManyAttempts, "")
			}
		}
		checkError(t, vm.do(t, attemptReq("a@example.com", "10.0.0.1", "ok")), filter.ErrTooManyAttempts, "")
	})
}

// TestAttemptGivenBack: SPEC 7; a verdict other than a wrong code gives its attempt back, in
// flight or not: a success, a blocked user, access denied, an unknown connection, the store's
// own 429, and a call that could not be dispatched (the store never saw it).
func TestAttemptGivenBack(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{}
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 3`), map[string]wasmhost.Cluster{"userstore": store})
		// A success and two blocked answers in flight fill the three attempts; once answered,
		// all three are given back (the success also clears), whatever order the answers come in.
		got := vm.doAll(t, []request{attemptReq("b", "10.0.0.1", "ok"), attemptReq("b", "10.0.0.1", "blocked"),
			attemptReq("b", "10.0.0.1", "blocked"), attemptReq("b", "10.0.0.1", "bad")})
		if got[0].status != 200 || got[1].status != 401 || got[2].status != 401 || got[3].status != 429 {
			t.Fatalf("answers %d %d %d %d, want 200 401 401 429", got[0].status, got[1].status, got[2].status, got[3].status)
		}
		for range 3 {
			checkError(t, vm.do(t, attemptReq("b", "10.0.0.1", "bad")), filter.ErrWrongCode, "")
		}
		checkError(t, vm.do(t, attemptReq("b", "10.0.0.1", "bad")), filter.ErrTooManyAttempts, "")
	})
	for name, c := range map[string]struct {
		cluster wasmhost.Cluster
		want    filter.ErrorKind
	}{
		"403":            {storeReply("403", `{"error":"access_denied","error_description":"no"}`), filter.ErrAccessDenied},
		"store 429":      {storeReply("429", `{"error":"too_many_attempts","error_description":"slow down"}`), filter.ErrStoreTooManyAttempts},
		"401 blocked":    {storeReply("401", `{"error":"unauthorized"}`), filter.ErrUserBlocked},
		"404 connection": {storeReply("404", `{"error":"bad.connection"}`), filter.ErrStoreBadConnection},
		"not dispatched": {nil, filter.ErrServer},
	} {
		t.Run(name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, h *harness) {
				clusters := map[string]wasmhost.Cluster{"userstore": c.cluster}
				if c.cluster == nil {
					if !h.wasm {
						// proxytest dispatches to any cluster name; filter's
						// TestUndispatchedCallGivesBack covers this natively.
						t.Skip("proxytest cannot refuse a dispatch")
					}
					clusters = nil // an unknown cluster: Envoy refuses the dispatch
				}
				vm := h.mustStart(t, protectionConfig(`"max_attempts": 2, "ip_max_failures": 2`), clusters)
				for range 4 {
					checkError(t, vm.do(t, attemptReq("a", "10.0.0.1", "1")), c.want, "")
				}
			})
		})
	}
}

// TestUnknownOutcomeStaysTaken: SPEC 7; a store call whose outcome is unknown (a timeout, a
// reset, a 5xx, any answer mapped to 500) may have been judged by the store: its attempt
// stays taken and counts toward ip_max_failures. So does a client that leaves during the call.
// Otherwise a store made slow would give unlimited guesses.
func TestUnknownOutcomeStaysTaken(t *testing.T) {
	hang := wasmhost.ClusterFunc(func(ctx context.Context, _ *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	for name, fault := range map[string]wasmhost.Cluster{
		"503":            storeReply("503", ""),
		"500":            storeReply("500", `{"error":"boom"}`),
		"unexpected 418": storeReply("418", `{"error":"teapot"}`),
		"malformed":      storeReply("200", `[1]`),
		"reset": wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			return nil, errors.New("reset")
		}),
		"timeout":       hang,
		"client leaves": nil,
	} {
		t.Run(name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, h *harness) {
				store := &otpStore{fault: fault}
				vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore", "timeout_ms": 50},
					"attack_protection": {"max_attempts": 3, "ip_max_failures": 5}`), map[string]wasmhost.Cluster{"userstore": store})
				// Two at once and one alone: in flight or not, none comes back.
				if fault == nil {
					for range 3 { // codes the store accepts: had the answers come, all were back
						vm.leave(t, attemptReq("a", "10.0.0.1", "ok"))
					}
				} else {
					for _, o := range vm.doAll(t, []request{attemptReq("a", "10.0.0.1", "fault"), attemptReq("a", "10.0.0.1", "fault")}) {
						checkError(t, o, filter.ErrServer, "")
					}
					checkError(t, vm.do(t, attemptReq("a", "10.0.0.1", "fault")), filter.ErrServer, "")
				}
				if n := store.calls.Load(); n != 3 {
					t.Fatalf("%d store calls, want 3", n)
				}
				checkError(t, vm.do(t, attemptReq("a", "10.0.0.1", "ok")), filter.ErrTooManyAttempts, "")
				// The three count toward the address's five: two more failures, then throttled.
				for _, u := range []string{"b", "c"} {
					checkError(t, vm.do(t, attemptReq(u, "10.0.0.1", "bad")), filter.ErrWrongCode, "")
				}
				checkError(t, vm.do(t, attemptReq("d", "10.0.0.1", "ok")), filter.ErrSuspiciousIP, "")
				if n := store.calls.Load(); n != 5 {
					t.Errorf("%d store calls, want 5: a blocked attempt reached the store", n)
				}
			})
		})
	}
}

// TestSuccessClearsUnknownOutcomes: SPEC 7, found by the soak; attempts whose outcome is
// unknown (store faults, a client gone during the call) count as failures, so a later success
// clears them with the key's other failures instead of leaving them to lock the user out.
func TestSuccessClearsUnknownOutcomes(t *testing.T) {
	reset := wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		return nil, errors.New("reset")
	})
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{fault: reset}
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 5`), map[string]wasmhost.Cluster{"userstore": store})
		for range 3 {
			checkError(t, vm.do(t, attemptReq("a", "10.0.0.1", "fault")), filter.ErrServer, "")
		}
		vm.leave(t, attemptReq("a", "10.0.0.1", "bad"))
		if o := vm.do(t, attemptReq("a", "10.0.0.1", "ok")); o.status != 200 {
			t.Fatalf("success after four unknown outcomes: %d %s", o.status, o.body)
		}
		for range 2 {
			checkError(t, vm.do(t, attemptReq("a", "10.0.0.1", "bad")), filter.ErrWrongCode, "")
		}
	})
}

// TestBlockedKeySurvivesSpray: a blocked key stays blocked while 10,000 other keys from
// other addresses fail in the same window.
func TestBlockedKeySurvivesSpray(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests per mode")
	}
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{}
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 3`), map[string]wasmhost.Cluster{"userstore": store})
		for range 3 {
			checkError(t, vm.do(t, attemptReq("victim@example.com", "10.0.0.1", "bad")), filter.ErrWrongCode, "")
		}
		for i := range 10000 {
			ip := fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256)
			if got := vm.do(t, attemptReq(fmt.Sprint("spray", i, "@example.com"), ip, "bad")); got.status != 401 {
				t.Fatalf("spray %d: %d %s", i, got.status, got.body)
			}
		}
		checkError(t, vm.do(t, attemptReq("victim@example.com", "10.0.0.1", "ok")), filter.ErrTooManyAttempts, "")
		if n := store.calls.Load(); n != 10003 {
			t.Errorf("%d store calls, want 10003", n)
		}
	})
}

// TestTargetedBucketAttack: the review's attack, made stronger. The attacker is given the
// secret (read from shared data), fills the victim's bucket with usernames that land there,
// most of them blocked, and keeps failing: the victim stays blocked. Without the secret the
// attacker cannot even find that bucket.
func TestTargetedBucketAttack(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{}
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 3, "ip_max_failures": 0`), map[string]wasmhost.Cluster{"userstore": store})
		for range 3 {
			vm.do(t, attemptReq("victim@example.com", "10.0.0.1", "bad"))
		}
		var secret [filter.SecretSize]byte
		if n := copy(secret[:], vm.sharedData(t, filter.SecretKey)); n != filter.SecretSize || secret == [filter.SecretSize]byte{} {
			t.Fatalf("secret %x", secret)
		}
		target := filter.KeyBucket(secret, "acme", "email", "victim@example.com", "10.0.0.1")
		var same []string
		for i := 0; len(same) < 3*filter.BucketEntries; i++ {
			u := fmt.Sprint("u", i)
			if filter.KeyBucket(secret, "acme", "email", u, "10.6.6.6") == target {
				same = append(same, u)
			}
		}
		// The bucket ends full but for one place, where the rest evict one another.
		blockedFillers, rest := same[:filter.BucketEntries-2], same[filter.BucketEntries-2:]
		for _, u := range blockedFillers {
			for range 3 {
				checkError(t, vm.do(t, attemptReq(u, "10.6.6.6", "bad")), filter.ErrWrongCode, "")
			}
		}
		for _, u := range rest {
			checkError(t, vm.do(t, attemptReq(u, "10.6.6.6", "bad")), filter.ErrWrongCode, "")
		}
		checkError(t, vm.do(t, attemptReq("victim@example.com", "10.0.0.1", "ok")), filter.ErrTooManyAttempts, "")
		checkError(t, vm.do(t, attemptReq(blockedFillers[0], "10.6.6.6", "ok")), filter.ErrTooManyAttempts, "")

		// The unkeyed placement the review attacked, or a guessed key, predicts nothing.
		var guess [filter.SecretSize]byte
		guessed := filter.KeyBucket(guess, "acme", "email", "victim@example.com", "10.0.0.1")
		hits := 0
		for i, n := 0, 0; n < 64; i++ {
			u := fmt.Sprint("g", i)
			if filter.KeyBucket(guess, "acme", "email", u, "10.6.6.6") == guessed {
				n++
				if filter.KeyBucket(secret, "acme", "email", u, "10.6.6.6") == target {
					hits++
				}
			}
		}
		if hits > 4 {
			t.Errorf("%d of 64 usernames chosen with a guessed key hit the victim's bucket", hits)
		}
	})
}

// TestIPThrottling: SPEC 7's per-address limit counts failures across usernames, is not
// cleared by a success, has its own text and metric, and is off at 0.
func TestIPThrottling(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{}
		vm := h.mustStart(t, protectionConfig(`"ip_max_failures": 3, "ip_window_seconds": 60`),
			map[string]wasmhost.Cluster{"userstore": store})
		// Three attempts in flight from one address fill its limit, a success among them.
		got := vm.doAll(t, []request{attemptReq("u1", "10.0.0.7", "ok"), attemptReq("u2", "10.0.0.7", "bad"),
			attemptReq("u3", "10.0.0.7", "bad"), attemptReq("u4", "10.0.0.7", "bad")})
		if got[0].status != 200 || got[1].status != 401 || got[2].status != 401 {
			t.Fatalf("answers %d %d %d, want 200 401 401", got[0].status, got[1].status, got[2].status)
		}
		checkError(t, got[3], filter.ErrSuspiciousIP, "")
		// The success gave its attempt back without clearing the two failures: one more fits.
		checkError(t, vm.do(t, attemptReq("u5", "10.0.0.7", "bad")), filter.ErrWrongCode, "")
		calls := store.calls.Load()
		checkError(t, vm.do(t, attemptReq("u6", "10.0.0.7", "ok")), filter.ErrSuspiciousIP, "")
		if store.calls.Load() != calls {
			t.Error("a throttled address reached the store")
		}
		if got := vm.do(t, attemptReq("u5", "10.0.0.8", "ok")); got.status != 200 {
			t.Errorf("another address: %d", got.status)
		}
		checkCounters(t, vm, map[string]uint64{
			"passwordless_verify.attack_protection.ip_throttled": 2,
			"passwordless_verify.attack_protection.key_blocked":  0,
			"passwordless_verify.user_store_too_many_attempts":   0,
			"passwordless_verify.error.too_many_attempts":        2,
		})
	})
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, protectionConfig(`"ip_max_failures": 0`), map[string]wasmhost.Cluster{"userstore": &otpStore{}})
		for i := range 5 {
			checkError(t, vm.do(t, attemptReq(fmt.Sprint("u", i), "10.0.0.7", "bad")), filter.ErrWrongCode, "")
		}
	})
}

// TestTooManyAttemptsMetrics: the three 429s are told apart.
func TestTooManyAttemptsMetrics(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 1`), map[string]wasmhost.Cluster{
			"userstore": storeReply("429", `{"error":"too_many_attempts","error_description":"store says"}`)})
		checkError(t, vm.do(t, attemptReq("u", "10.0.0.1", "1")), filter.ErrStoreTooManyAttempts, "store says")
		checkCounters(t, vm, map[string]uint64{
			"passwordless_verify.user_store_too_many_attempts":   1,
			"passwordless_verify.attack_protection.key_blocked":  0,
			"passwordless_verify.attack_protection.ip_throttled": 0,
		})
	})
}

// TestSecretFromHostRandomness: each plugin start draws its own secret from the host's
// randomness (WASI random_get on wasm), so two Envoy processes never share placement.
func TestSecretFromHostRandomness(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		seen := map[string]bool{}
		for range 3 {
			vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
			s := string(vm.sharedData(t, filter.SecretKey))
			if len(s) != filter.SecretSize || seen[s] {
				t.Fatalf("secret %x: want %d fresh random bytes per start", s, filter.SecretSize)
			}
			seen[s] = true
		}
	})
}

// TestIPv6CountedPer64: SPEC 7; one host holds a whole /64, so an IPv6 client is counted by
// its /64, for the key and for the address; an IPv4-mapped address is its IPv4 client. The
// store's ip stays the full address.
func TestIPv6CountedPer64(t *testing.T) {
	from := func(user, source string) request {
		r := attemptReq(user, "", "bad")
		r.source = source
		return r
	}
	vmTest(t, func(t *testing.T, h *harness) {
		store := &otpStore{}
		vm := h.mustStart(t, protectionConfig(`"max_attempts": 2, "ip_max_failures": 3`), map[string]wasmhost.Cluster{"userstore": store})
		checkError(t, vm.do(t, from("a", "[2001:db8:0:1::a]:443")), filter.ErrWrongCode, "")
		checkError(t, vm.do(t, from("a", "[2001:DB8:0:1:ffff:ffff:ffff:ffff]:443")), filter.ErrWrongCode, "")
		checkError(t, vm.do(t, from("a", "[2001:db8:0:1:1:2:3:4%eth0]:443")), filter.ErrTooManyAttempts, "")
		checkError(t, vm.do(t, from("a", "[2001:db8:0:2::a]:443")), filter.ErrWrongCode, "") // the next /64
		// The address count: two failures from the /64 so far, one more fills it.
		checkError(t, vm.do(t, from("b", "[2001:db8:0:1::b]:443")), filter.ErrWrongCode, "")
		checkError(t, vm.do(t, from("c", "[2001:db8:0:1::c]:443")), filter.ErrSuspiciousIP, "")

		// IPv4 as it is, whether or not a dual-stack listener maps it.
		checkError(t, vm.do(t, from("a", "192.0.2.1:80")), filter.ErrWrongCode, "")
		checkError(t, vm.do(t, from("a", "[::ffff:192.0.2.1]:80")), filter.ErrWrongCode, "")
		checkError(t, vm.do(t, from("a", "192.0.2.1:81")), filter.ErrTooManyAttempts, "")
		checkError(t, vm.do(t, from("a", "[::ffff:192.0.2.2]:80")), filter.ErrWrongCode, "")

		var ips []string
		for _, c := range h.callouts() {
			var body struct{ IP string }
			if err := json.Unmarshal(c.Body, &body); err != nil {
				t.Fatal(err)
			}
			ips = append(ips, body.IP)
		}
		want := []string{"2001:db8:0:1::a", "2001:DB8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:2::a", "2001:db8:0:1::b",
			"192.0.2.1", "::ffff:192.0.2.1", "::ffff:192.0.2.2"}
		if strings.Join(ips, " ") != strings.Join(want, " ") {
			t.Errorf("store calls' ip %q, want the full addresses %q", ips, want)
		}
	})
}
