package ratelimitrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
)

// These tests run the real service and the real Redis: what SPEC 14 says about the service's
// answers is checked against it here.

func start(t *testing.T, o ratelimitrun.Options) (*ratelimitrun.Stack, *envoyrun.LogBuffer) {
	t.Helper()
	ratelimitrun.Require(t)
	logs := &envoyrun.LogBuffer{}
	o.Log = logs
	st, err := ratelimitrun.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st, logs
}

// attempt is a fresh key per try and per user number.
func attempt(try, user int) ratelimitrun.Attempt {
	return ratelimitrun.Attempt{
		Domain: "passwordless_verify", Tenant: "acme", Connection: "email",
		Username: fmt.Sprintf("User%d@Example.com", user), IP: fmt.Sprintf("192.0.2.%d", try+1),
	}
}

// expect checks an answer's status, overallCode and per-descriptor codes.
func expect(a *ratelimitrun.Answer, status int, overall string, codes ...string) error {
	var got []string
	for _, s := range a.Statuses {
		got = append(got, s.Code)
	}
	if a.Status != status || a.OverallCode != overall || !slices.Equal(got, codes) {
		return fmt.Errorf("answer %d %s %v, want %d %s %v: %s", a.Status, a.OverallCode, got, status, overall, codes, a.Raw)
	}
	if a.ContentType != "application/json" {
		return fmt.Errorf("content-type %q: %s", a.ContentType, a.Raw)
	}
	return nil
}

// TestAnswersAsSPEC14Says sends SPEC 14's exact body: 200 OK up to the user + IP limit, then
// 429 OVER_LIMIT with statuses[0] over; other users from that address count toward the
// per-address limit until 429 with statuses[1] over. Every request counts (hits_addend 1).
func TestAnswersAsSPEC14Says(t *testing.T) {
	st, logs := start(t, ratelimitrun.Options{StatsEach: 200 * time.Millisecond})
	userLimit, ipLimit := shippedLimits(t)
	ctx := t.Context()
	ratelimitrun.InOneWindow(t, func(try int) error {
		ask := func(user int, status int, overall string, codes ...string) error {
			a, err := st.Service.Ask(ctx, attempt(try, user).Body(1))
			if err != nil {
				return err
			}
			return expect(a, status, overall, codes...)
		}
		for i := range userLimit {
			if err := ask(0, http.StatusOK, "OK", "OK", "OK"); err != nil {
				return fmt.Errorf("attempt %d of %d: %w", i+1, userLimit, err)
			}
		}
		if err := ask(0, http.StatusTooManyRequests, "OVER_LIMIT", "OVER_LIMIT", "OK"); err != nil {
			return fmt.Errorf("past the user + IP limit: %w", err)
		}
		// The refused attempt counted for the address too: userLimit+1 so far.
		for n := userLimit + 2; n <= ipLimit; n++ {
			if err := ask(n, http.StatusOK, "OK", "OK", "OK"); err != nil {
				return fmt.Errorf("attempt %d from the address: %w", n, err)
			}
		}
		if err := ask(ipLimit+1, http.StatusTooManyRequests, "OVER_LIMIT", "OK", "OVER_LIMIT"); err != nil {
			return fmt.Errorf("past the per-address limit: %w", err)
		}
		return nil
	})
	// Its stats name the descriptors by their keys, not their values.
	const stat = "ratelimit.service.rate_limit.passwordless_verify.tenant.connection.user.client_ip.total_hits"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), stat) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the service's stats; its output:\n%s", stat, st.Service.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := logs.String(); strings.Contains(strings.ToLower(out), "example.com") {
		t.Errorf("a username in the service's output:\n%s", out)
	}
}

// TestHitsAddendZeroCountsOne: the service counts a request with hits_addend 0 as one hit, so
// there is no asking without counting.
func TestHitsAddendZeroCountsOne(t *testing.T) {
	st, _ := start(t, ratelimitrun.Options{})
	userLimit, _ := shippedLimits(t)
	ratelimitrun.InOneWindow(t, func(try int) error {
		for range userLimit {
			if _, err := st.Service.Ask(t.Context(), attempt(try, 0).Body(0)); err != nil {
				return err
			}
		}
		a, err := st.Service.Ask(t.Context(), attempt(try, 0).Body(0))
		if err != nil {
			return err
		}
		return expect(a, http.StatusTooManyRequests, "OVER_LIMIT", "OVER_LIMIT", "OK")
	})
}

// TestRedisDown records what the service answers without Redis: 400 with a text body, which
// is no JSON object with an overallCode, so SPEC 14 maps it to failure_mode_deny. Redis started
// again is empty (persistence off), and the service reconnects by itself.
func TestRedisDown(t *testing.T) {
	st, _ := start(t, ratelimitrun.Options{})
	ctx := t.Context()
	body := attempt(0, 0).Body(1)
	for range 3 {
		if _, err := st.Service.Ask(ctx, body); err != nil {
			t.Fatal(err)
		}
	}

	st.Redis.Kill()
	a, err := st.Service.Ask(ctx, body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the service without Redis: %d %q %q", a.Status, a.ContentType, a.Raw)
	if a.Status != http.StatusBadRequest || a.OverallCode != "" || json.Valid(a.Raw) {
		t.Fatalf("without Redis: %d %q, want 400 and no JSON", a.Status, a.Raw)
	}

	if err := st.Redis.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Each of its pooled connections to the old Redis fails once before a new one is made
	// (REDIS_POOL_SIZE, 10 by default), so a few requests fail after Redis is back.
	const poolSize = 10
	failed, inARow := 0, 0
	for n := 0; inARow < 2*poolSize; n++ {
		if n > 100 {
			t.Fatalf("the service still fails after Redis came back: %d failures", failed)
		}
		a, err := st.Service.Ask(ctx, attempt(100+n, 0).Body(1)) // a fresh address each: no limit is reached
		if err != nil {
			t.Fatal(err)
		}
		if a.Status == http.StatusOK {
			inARow++
			continue
		}
		failed, inARow = failed+1, 0
	}
	t.Logf("after Redis came back, %d requests failed before %d in a row succeeded", failed, 2*poolSize)
	if failed > poolSize {
		t.Errorf("%d requests failed after Redis came back, more than the pool's %d connections", failed, poolSize)
	}
	// Counting started again from zero: the three hits before the restart are gone.
	userLimit, _ := shippedLimits(t)
	ratelimitrun.InOneWindow(t, func(try int) error {
		body := attempt(try, 1).Body(1)
		for i := range userLimit {
			a, err := st.Service.Ask(ctx, body)
			if err != nil {
				return err
			}
			if err := expect(a, http.StatusOK, "OK", "OK", "OK"); err != nil {
				return fmt.Errorf("attempt %d: %w", i+1, err)
			}
		}
		return nil
	})
}

// TestServiceRestartKeepsCounts: killed, the service refuses connections; started again, it
// goes on from the counts Redis holds.
func TestServiceRestartKeepsCounts(t *testing.T) {
	st, _ := start(t, ratelimitrun.Options{})
	ctx := t.Context()
	userLimit, _ := shippedLimits(t)
	ratelimitrun.InOneWindow(t, func(try int) error {
		body := attempt(try, 0).Body(1)
		for range userLimit {
			if _, err := st.Service.Ask(ctx, body); err != nil {
				return err
			}
		}
		st.Service.Kill()
		if _, err := st.Service.Ask(ctx, body); !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("killed service: %w, want connection refused", err)
		}
		if err := st.Service.Restart(ctx); err != nil {
			return err
		}
		a, err := st.Service.Ask(ctx, body)
		if err != nil {
			return err
		}
		return expect(a, http.StatusTooManyRequests, "OVER_LIMIT", "OVER_LIMIT", "OK")
	})
}

// TestListenersOnLoopbackOnly: every port of the service and of Redis answers on 127.0.0.1 and
// refuses on this machine's other addresses (the service listens on 0.0.0.0 by default).
func TestListenersOnLoopbackOnly(t *testing.T) {
	st, _ := start(t, ratelimitrun.Options{})
	ports := []string{st.Redis.Addr, st.Service.URL, st.Service.GRPCAddr, st.Service.DebugURL}
	var others []net.IP
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			others = append(others, n.IP)
		}
	}
	if len(others) == 0 {
		t.Log("no address but loopback on this machine: only the loopback side is checked")
	}
	for _, p := range ports {
		_, port, err := net.SplitHostPort(strings.TrimPrefix(p, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), time.Second)
		if err != nil {
			t.Fatalf("port %s on loopback: %v", port, err)
		}
		_ = c.Close()
		for _, ip := range others {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second); err == nil {
				_ = c.Close()
				t.Errorf("port %s answers on %s", port, ip)
			}
		}
	}
}

// TestShippedLimitsMatchPluginConfig: the shipped limits are those of the shipped plugin
// configuration (envoy/local.yaml): max_attempts per user + address, ip_max_failures per
// address, per hour.
func TestShippedLimitsMatchPluginConfig(t *testing.T) {
	userLimit, ipLimit := shippedLimits(t)
	cfg := shippedPluginConfig(t)
	ipMax := 100 // SPEC 7's default when the configuration leaves ip_max_failures out
	if cfg.AttackProtection.IPMaxFailures != nil {
		ipMax = *cfg.AttackProtection.IPMaxFailures
	}
	if userLimit != cfg.AttackProtection.MaxAttempts || ipLimit != ipMax {
		t.Errorf("limits %d per user + address and %d per address; the plugin has max_attempts %d, ip_max_failures %d",
			userLimit, ipLimit, cfg.AttackProtection.MaxAttempts, ipMax)
	}
}

type pluginConfig struct {
	AttackProtection struct {
		MaxAttempts   int  `json:"max_attempts"`
		IPMaxFailures *int `json:"ip_max_failures"`
	} `json:"attack_protection"`
}

func shippedPluginConfig(t *testing.T) pluginConfig {
	t.Helper()
	root, err := envoyrun.Root()
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(root, "envoy", "local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := envoyrun.ParseBootstrap(y)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.PluginConfig()
	if err != nil {
		t.Fatal(err)
	}
	var cfg pluginConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

type descriptor struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	RateLimit *struct {
		Unit            string `json:"unit"`
		RequestsPerUnit int    `json:"requests_per_unit"`
	} `json:"rate_limit"`
	Descriptors []descriptor `json:"descriptors"`
}

// shippedLimits reads the per-hour limits of the two descriptors of SPEC 14 from the shipped
// configuration.
func shippedLimits(t *testing.T) (userLimit, ipLimit int) {
	t.Helper()
	y, err := ratelimitrun.ShippedConfig()
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Domain      string       `json:"domain"`
		Descriptors []descriptor `json:"descriptors"`
	}
	if err := yaml.UnmarshalStrict(y, &root); err != nil {
		t.Fatal(err)
	}
	if root.Domain != "passwordless_verify" {
		t.Fatalf("domain %q", root.Domain)
	}
	limit := func(keys ...string) int {
		level := root.Descriptors
		for i, k := range keys {
			j := slices.IndexFunc(level, func(d descriptor) bool { return d.Key == k && d.Value == "" })
			if j < 0 {
				t.Fatalf("no descriptor %v (without a value) in the shipped configuration", keys[:i+1])
			}
			if i == len(keys)-1 {
				rl := level[j].RateLimit
				if rl == nil || rl.Unit != "hour" {
					t.Fatalf("descriptor %v: want a limit per hour, have %+v", keys, rl)
				}
				return rl.RequestsPerUnit
			}
			level = level[j].Descriptors
		}
		return 0
	}
	return limit("tenant", "connection", "user", "client_ip"), limit("tenant", "client_ip")
}

// TestPausedServiceAnswersLate: a paused service accepts the connection and answers nothing
// until it resumes, then answers what waited: slower than any timeout, for as long as a test
// wants.
func TestPausedServiceAnswersLate(t *testing.T) {
	st, _ := start(t, ratelimitrun.Options{})
	body := attempt(0, 0).Body(1)
	if err := st.Service.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if a, err := st.Service.Ask(ctx, body); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("paused service: %v %v, want a timeout", a, err)
	}
	late := make(chan error, 1)
	go func() {
		a, err := st.Service.Ask(t.Context(), body)
		if err == nil {
			err = expect(a, http.StatusOK, "OK", "OK", "OK")
		}
		late <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-late:
		t.Fatalf("a paused service answered: %v", err)
	default:
	}
	if err := st.Service.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := <-late; err != nil {
		t.Fatal(err)
	}
}
