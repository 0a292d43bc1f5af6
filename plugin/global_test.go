package main

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// SPEC 14 in both modes, against a rate-limit service that answers as told. The answers are
// those the real service (envoyproxy/ratelimit with Redis) gives; e2e/ratelimitrun checks them
// against it, and e2e/envoye2e runs the whole fleet for real.

// Answers of the real service's JSON endpoint.
const (
	rlOK       = `{"overallCode":"OK", "statuses":[{"code":"OK", "currentLimit":{"requestsPerUnit":10, "unit":"HOUR"}, "limitRemaining":9, "durationUntilReset":"94s"}, {"code":"OK", "currentLimit":{"requestsPerUnit":100, "unit":"HOUR"}, "limitRemaining":99, "durationUntilReset":"94s"}]}`
	rlOverKey  = `{"overallCode":"OVER_LIMIT", "statuses":[{"code":"OVER_LIMIT", "currentLimit":{"requestsPerUnit":10, "unit":"HOUR"}, "durationUntilReset":"94s"}, {"code":"OK", "currentLimit":{"requestsPerUnit":100, "unit":"HOUR"}, "limitRemaining":89, "durationUntilReset":"94s"}]}`
	rlOverIP   = `{"overallCode":"OVER_LIMIT", "statuses":[{"code":"OK", "currentLimit":{"requestsPerUnit":10, "unit":"HOUR"}, "limitRemaining":9, "durationUntilReset":"94s"}, {"code":"OVER_LIMIT", "currentLimit":{"requestsPerUnit":100, "unit":"HOUR"}, "durationUntilReset":"94s"}]}`
	rlOverBoth = `{"overallCode":"OVER_LIMIT", "statuses":[{"code":"OVER_LIMIT", "currentLimit":{"requestsPerUnit":10, "unit":"HOUR"}, "durationUntilReset":"93s"}, {"code":"OVER_LIMIT", "currentLimit":{"requestsPerUnit":100, "unit":"HOUR"}, "durationUntilReset":"93s"}]}`
	// What it answers without Redis.
	rlNoRedis = "Bad Request\n"
)

// rlService plays the rate-limit service: every call gets the answer set last.
type rlService struct {
	mu     sync.Mutex
	status string
	body   string
	err    error         // a failed call (reset) instead of an answer
	delay  time.Duration // answer this late
	calls  int
}

func (s *rlService) set(status, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.err, s.delay = status, body, nil, 0
}

func (s *rlService) RoundTrip(ctx context.Context, _ *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
	s.mu.Lock()
	s.calls++
	status, body, err, delay := s.status, s.body, s.err, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", status}, {"content-type", "application/json"}}, Body: []byte(body)}, nil
}

func (s *rlService) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// globalConfig is the test configuration with attack_protection.global set to global.
func globalConfig(attack, global string) string {
	if attack != "" {
		attack += ", "
	}
	return configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {` + attack + `"global": ` + global + `}`)
}

// startGlobal starts the plugin with global limits against svc and a store that answers every
// code as wrong.
func startGlobal(t *testing.T, h *harness, attack, global string, svc *rlService) (filterVM, *switchStore) {
	t.Helper()
	store := &switchStore{}
	vm := h.mustStart(t, globalConfig(attack, global), map[string]wasmhost.Cluster{"userstore": store, "ratelimit": svc})
	return vm, store
}

const rlPath = "/json"

// globalCalls are the calls to the rate-limit service's path, in order.
func (h *harness) globalCalls() []wasmhost.CalloutRequest {
	var out []wasmhost.CalloutRequest
	for _, c := range h.callouts() {
		if headerValue(c.Headers, ":path") == rlPath {
			out = append(out, c)
		}
	}
	return out
}

// TestGlobalAnswers: each kind of answer of SPEC 14, with failure_mode_deny false and true.
func TestGlobalAnswers(t *testing.T) {
	cases := []struct {
		name         string
		status, body string
		err          error
		delay        time.Duration
		cluster      string // "" is the service's; another one Envoy does not have refuses the dispatch
		// refusal: 429 with overLimit's text. failed: the call failed, so the store is asked
		// (it answers every code wrong), or with failure_mode_deny the answer is 500.
		refusal   bool
		overLimit filter.ErrorKind
		failed    bool
	}{
		{name: "200 OK", status: "200", body: rlOK},
		{name: "429 OK", status: "429", body: rlOK},
		{name: "429 over the user + address limit", status: "429", body: rlOverKey, refusal: true, overLimit: filter.ErrTooManyAttempts},
		{name: "200 over the user + address limit", status: "200", body: rlOverKey, refusal: true, overLimit: filter.ErrTooManyAttempts},
		{name: "429 over the per-address limit", status: "429", body: rlOverIP, refusal: true, overLimit: filter.ErrSuspiciousIP},
		{name: "429 over both limits", status: "429", body: rlOverBoth, refusal: true, overLimit: filter.ErrSuspiciousIP},
		{name: "429 OVER_LIMIT without statuses", status: "429", body: `{"overallCode":"OVER_LIMIT"}`, refusal: true, overLimit: filter.ErrTooManyAttempts},
		{name: "400 without Redis", status: "400", body: rlNoRedis, failed: true},
		{name: "500", status: "500", body: `{"overallCode":"UNKNOWN"}`, failed: true},
		{name: "503 with OVER_LIMIT", status: "503", body: rlOverKey, failed: true},
		{name: "200 not JSON", status: "200", body: `OK`, failed: true},
		{name: "200 truncated", status: "200", body: rlOK[:40], failed: true},
		{name: "200 array", status: "200", body: `[` + rlOK + `]`, failed: true},
		{name: "200 no overallCode", status: "200", body: `{"statuses":[]}`, failed: true},
		{name: "200 overallCode UNKNOWN", status: "200", body: `{"overallCode":"UNKNOWN"}`, failed: true},
		{name: "200 overallCode not a string", status: "200", body: `{"overallCode":1}`, failed: true},
		{name: "200 invalid UTF-8", status: "200", body: "{\"overallCode\":\"OK\",\"x\":\"\xff\"}", failed: true},
		{name: "200 oversized", status: "200", body: `{"overallCode":"OK","pad":"` + strings.Repeat("x", filter.MaxAnswerBytes) + `"}`, failed: true},
		{name: "200 empty", status: "200", body: ``, failed: true},
		{name: "reset", err: errors.New("connection reset"), failed: true},
		{name: "unknown cluster", cluster: "no-such-cluster", failed: true},
		// Longer than the native harness's own callout timeout too, where proxytest has no timeout_ms.
		{name: "slower than timeout_ms", status: "200", body: rlOK, delay: 2 * filter.DefaultTimeoutMS * time.Millisecond, failed: true},
	}
	for _, deny := range []bool{false, true} {
		t.Run("failure_mode_deny="+strconv.FormatBool(deny), func(t *testing.T) {
			vmTest(t, func(t *testing.T, h *harness) {
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						svc := &rlService{status: c.status, body: c.body, err: c.err, delay: c.delay}
						cluster := cmp.Or(c.cluster, "ratelimit")
						vm, store := startGlobal(t, h, "", `{"cluster":"`+cluster+`","timeout_ms":100,"failure_mode_deny":`+strconv.FormatBool(deny)+`}`, svc)
						got := vm.do(t, acme(validBody))
						asked := store.calls.Load() == 1
						switch {
						case c.refusal:
							checkError(t, got, c.overLimit, "")
						case c.failed && deny:
							checkError(t, got, filter.ErrServer, "")
						default:
							checkError(t, got, filter.ErrWrongCode, "")
						}
						if want := !c.refusal && (!c.failed || !deny); asked != want {
							t.Errorf("store asked: %v, want %v", asked, want)
						}
						if want := map[bool]int{true: 1}[c.cluster == ""]; svc.count() != want {
							t.Errorf("%d calls to the service, want %d", svc.count(), want)
						}
						over, failures := uint64(0), uint64(0)
						if c.refusal {
							over = 1
						}
						if c.failed {
							failures = 1
						}
						if got := vm.counter(t, "passwordless_verify.global_over_limit"); got != over {
							t.Errorf("global_over_limit %d, want %d", got, over)
						}
						if got := vm.counter(t, "passwordless_verify.global_failures"); got != failures {
							t.Errorf("global_failures %d, want %d", got, failures)
						}
					})
				}
			})
		})
	}
}

// TestGlobalCall: the call is SPEC 14's, byte for byte, made after the local checks and
// before the store call; the username goes only as its hash.
func TestGlobalCall(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		svc := &rlService{status: "200", body: rlOK}
		vm, _ := startGlobal(t, h, "", `{"cluster":"ratelimit","authority":"rls.internal","path":"/rl/json","domain":"login","timeout_ms":150}`, svc)
		const user = "Ünï.Code\"Q\\@Example.com"
		body := `{"client_id":"acme-web","connection":"email","username":"Ünï.Code\"Q\\@Example.com","otp":"123456"}`
		vm.do(t, request{headers: [][2]string{{"x-tenant-id", "acme"}, {"content-type", "application/json"}}, body: body, source: "203.0.113.7:5555"})
		calls := h.callouts()
		if len(calls) != 2 || headerValue(calls[0].Headers, ":path") != "/rl/json" || headerValue(calls[1].Headers, ":path") != "/v1/passwordless/verify" {
			t.Fatalf("calls %v: want the service's, then the store's", calls)
		}
		c := calls[0]
		for _, kv := range [][2]string{{":method", "POST"}, {":authority", "rls.internal"}, {"content-type", "application/json"}} {
			if got := headerValue(c.Headers, kv[0]); got != kv[1] {
				t.Errorf("header %s: %q, want %q", kv[0], got, kv[1])
			}
		}
		want := ratelimitrun.Attempt{Domain: "login", Tenant: "acme", Connection: "email", Username: user, IP: "203.0.113.7"}.Body(1)
		if string(c.Body) != string(want) {
			t.Errorf("body\n%s\nwant\n%s", c.Body, want)
		}
		if strings.Contains(strings.ToLower(string(c.Body)), "example.com") || strings.Contains(string(c.Body), "123456") {
			t.Errorf("the username or the code in the call: %s", c.Body)
		}
		if h.wasm && c.Timeout != 150*time.Millisecond {
			t.Errorf("timeout %v, want 150ms", c.Timeout)
		}
	})
}

// TestGlobalDefaults: cluster is all global needs; the call then uses SPEC 14's defaults.
func TestGlobalDefaults(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		svc := &rlService{status: "200", body: rlOK}
		vm, _ := startGlobal(t, h, "", `{"cluster":"ratelimit"}`, svc)
		vm.do(t, acme(validBody))
		calls := h.globalCalls()
		if len(calls) != 1 {
			t.Fatalf("%d calls to the service", len(calls))
		}
		if got := headerValue(calls[0].Headers, ":authority"); got != "ratelimit" {
			t.Errorf("authority %q, want the cluster name", got)
		}
		if !strings.HasPrefix(string(calls[0].Body), `{"domain":"passwordless_verify",`) {
			t.Errorf("body %s: want the domain passwordless_verify", calls[0].Body)
		}
		if h.wasm && calls[0].Timeout != 200*time.Millisecond {
			t.Errorf("timeout %v, want 200ms", calls[0].Timeout)
		}
	})
}

// TestGlobalAfterLocalChecks: a request the filter refuses itself, section 7 included, never
// reaches the service.
func TestGlobalAfterLocalChecks(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		svc := &rlService{status: "200", body: rlOK}
		vm, _ := startGlobal(t, h, `"max_attempts": 2`, `{"cluster":"ratelimit"}`, svc)
		checkError(t, vm.do(t, acme(`{"client_id":"acme-web"}`)), filter.ErrMissingUsername, "")
		for range 2 {
			checkError(t, vm.do(t, acme(validBody)), filter.ErrWrongCode, "")
		}
		checkError(t, vm.do(t, acme(validBody)), filter.ErrTooManyAttempts, "")
		if n := svc.count(); n != 2 {
			t.Errorf("%d calls to the service, want 2 (the two that reached the store)", n)
		}
	})
}

// TestGlobalGivesAttemptBack: a refusal by the service, and a failed call with
// failure_mode_deny, give the local attempt back: afterwards all of max_attempts still reach
// the store.
func TestGlobalGivesAttemptBack(t *testing.T) {
	for _, c := range []struct{ name, status, body string }{
		{"refusal", "429", rlOverKey},
		{"failed call, failure_mode_deny", "400", rlNoRedis},
	} {
		t.Run(c.name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, h *harness) {
				svc := &rlService{status: c.status, body: c.body}
				vm, store := startGlobal(t, h, `"max_attempts": 2, "ip_max_failures": 2`, `{"cluster":"ratelimit","failure_mode_deny":true}`, svc)
				for range 5 {
					if got := vm.do(t, acme(validBody)); got.status == 401 {
						t.Fatal("the store was asked")
					}
				}
				svc.set("200", rlOK)
				for range 2 {
					checkError(t, vm.do(t, acme(validBody)), filter.ErrWrongCode, "")
				}
				checkError(t, vm.do(t, acme(validBody)), filter.ErrSuspiciousIP, "")
				if n := store.calls.Load(); n != 2 {
					t.Errorf("%d store calls, want 2", n)
				}
			})
		})
	}
}

// TestGlobalRedirectStep: the redirect step of SPEC 12 asks the service about the same key as
// the POST.
func TestGlobalRedirectStep(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		svc := &rlService{status: "429", body: rlOverKey}
		vm, store := startGlobal(t, h, "", `{"cluster":"ratelimit"}`, svc)
		vm.do(t, acme(validBody))
		checkRedirectError(t, vm.do(t, redirectRequest(redirectQuery(nil))), callback, filter.ErrTooManyAttempts, "st/1 &")
		calls := h.globalCalls()
		if len(calls) != 2 || string(calls[0].Body) != string(calls[1].Body) {
			t.Fatalf("calls to the service %d, want the POST's and the same for the redirect step", len(calls))
		}
		if store.calls.Load() != 0 {
			t.Error("the store was asked")
		}
	})
}

// TestGlobalLogLines: a refusal's line names the outcome as usual and says the limit was the
// fleet's; a failed call is logged; no line holds the username or the code.
func TestGlobalLogLines(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		svc := &rlService{status: "429", body: rlOverKey}
		vm, _ := startGlobal(t, h, "", `{"cluster":"ratelimit"}`, svc)
		vm.do(t, acme(validBody))
		svc.set("400", rlNoRedis)
		vm.do(t, acme(validBody))
		all := strings.Join(vm.logs(), "\n")
		for _, want := range []string{"outcome=too_many_attempts", "fleet-wide limit", "rate-limit service answered 400"} {
			if !strings.Contains(all, want) {
				t.Errorf("no %q in the logs:\n%s", want, all)
			}
		}
		if strings.Contains(all, "a@example.com") || strings.Contains(all, "123456") {
			t.Errorf("the username or the code in the logs:\n%s", all)
		}
	})
}

// clientLeaves sends r, and the client goes away before any answer of a call it made: the
// stream ends (proxy_on_log, proxy_on_delete), then its calls complete against a context that
// is gone, which the SDK drops.
func clientLeaves(t *testing.T, vm filterVM, r request) {
	t.Helper()
	switch v := vm.(type) {
	case *nativeVM:
		s := v.send(t, r)
		v.host.CompleteHttpContext(s.id)
		for _, a := range v.host.GetCalloutAttributesFromContext(s.id) {
			v.deliver(a)
		}
	case *wasmVM:
		if _, err := v.send(t, r).Finish(context.Background()); err != nil {
			t.Fatalf("wasm VM: %v", err)
		}
	}
}

// TestGlobalClientLeavesDuringTheCall: a client gone while the service is asked causes no
// store call, and its attempt is given back: with max_attempts 1 the next attempt reaches
// the store. (One gone during the store call leaves it taken, SPEC 7: see the filter's
// TestGlobalClientLeaves.)
func TestGlobalClientLeavesDuringTheCall(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		svc := &rlService{status: "200", body: rlOK}
		vm, store := startGlobal(t, h, `"max_attempts": 1`, `{"cluster":"ratelimit"}`, svc)
		clientLeaves(t, vm, acme(validBody))
		if n := store.calls.Load(); n != 0 {
			t.Fatalf("%d store calls after the client left during the service's call", n)
		}
		if n := svc.count(); n != 1 {
			t.Fatalf("%d calls to the service, want 1", n)
		}
		checkError(t, vm.do(t, acme(validBody)), filter.ErrWrongCode, "") // the attempt came back
		checkError(t, vm.do(t, acme(validBody)), filter.ErrTooManyAttempts, "")
		if n := store.calls.Load(); n != 1 {
			t.Fatalf("%d store calls, want 1", n)
		}
	})
}
