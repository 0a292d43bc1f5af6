package envoye2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
)

// BenchmarkEnvoy measures whole requests through the real Envoy on loopback, one at a time
// over one kept-alive connection, and reports the median and 99th percentile latency:
//
//	go test -run '^$' -bench Envoy -benchtime 1000x ./e2e/envoye2e
func BenchmarkEnvoy(b *testing.B) {
	s := startStack(b, stackOptions{config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 0)
	}})
	keepAlive := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"rejected", `{"client_id":"other","connection":"email","username":"a@e2e.test","otp":"123456"}`, 403},
		{"verified", verifyBody("s-200@e2e.test", "123456"), 200},
	} {
		b.Run(c.name, func(b *testing.B) { latencies(b, keepAlive, s.envoy.URL, c.body, c.status) })
	}
}

// latencies sends body to the verify path of base, one request at a time, and reports the
// median and 99th percentile latency.
func latencies(b *testing.B, c *http.Client, base, body string, status int) {
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, base+"/passwordless/verify", strings.NewReader(body))
		req.Header.Set("x-tenant-id", tenant)
		req.Header.Set("content-type", "application/json")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != status {
			b.Fatalf("status %d, want %d", resp.StatusCode, status)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkEnvoyGlobal measures what SPEC 14's call to the rate-limit service adds to a
// verified request: two replicas in front of one store, the first without attack_protection.global
// and the second with it, one request at a time over one kept-alive connection each, the
// median and 99th percentile latency of each:
//
//	go test -run '^$' -bench EnvoyGlobal -benchtime 1000x ./e2e/envoye2e
func BenchmarkEnvoyGlobal(b *testing.B) {
	s := startStack(b, stackOptions{
		replicas: 2,
		config: func(cfg map[string]any) {
			e2eConfig(cfg)
			set(cfg, "attack_protection.max_attempts", 0)
		},
		replicaConfig: func(i int, cfg map[string]any) {
			if i == 1 {
				set(cfg, "attack_protection.global", map[string]any{"cluster": "ratelimit"})
			}
		},
		// Limits no benchmark reaches: every request is verified.
		rateLimit: &ratelimitrun.Options{Config: []byte(`domain: passwordless_verify
descriptors:
  - key: tenant
    descriptors:
      - {key: client_ip, rate_limit: {unit: hour, requests_per_unit: 100000000}}
`)},
	})
	for i, name := range []string{"global-off", "global-on"} {
		keepAlive := &http.Client{Timeout: 10 * time.Second}
		b.Run(name, func(b *testing.B) {
			latencies(b, keepAlive, s.envoys[i].URL, verifyBody("s-200@e2e.test", "123456"), 200)
		})
	}
}

// BenchmarkEnvoyMemory sends b.N mixed verify requests (rejected, verified, wrong code,
// oversized; the wrong codes soon get 429) and reports Envoy's resident memory before and after, in KiB: with two workers
// Envoy holds four copies of the plugin (the base VM, the configuring VM and one per worker).
//
//	go test -run '^$' -bench EnvoyMemory -benchtime 10000x ./e2e/envoye2e
func BenchmarkEnvoyMemory(b *testing.B) {
	s := startStack(b, stackOptions{config: e2eConfig})
	keepAlive := &http.Client{Timeout: 10 * time.Second}
	bodies := []string{
		`{"client_id":"other","connection":"email","username":"a@e2e.test","otp":"123456"}`,
		verifyBody("s-200@e2e.test", "123456"),
		verifyBody("s-401@e2e.test", "123456"),
		`{"client_id":"` + strings.Repeat("x", 15000) + `"}`,
	}
	before := rssKiB(b, s.envoy.Pid())
	i := 0
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", strings.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("x-tenant-id", tenant)
		req.Header.Set("content-type", "application/json")
		i++
		resp, err := keepAlive.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	b.ReportMetric(float64(before), "rss-before-KiB")
	b.ReportMetric(float64(rssKiB(b, s.envoy.Pid())), "rss-after-KiB")
}

func rssKiB(b *testing.B, pid int) int {
	b.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkFleetStoreHits counts the wrong guesses at one user's code that reach the user
// store when a client sends 30 of them from one address: to one replica or alternating
// between two, without and with attack_protection.global (SPEC 14). Each sub-benchmark runs
// its 30 guesses once per iteration, with another user each time:
//
//	go test -run '^$' -bench FleetStoreHits -benchtime 1x ./e2e/envoye2e
func BenchmarkFleetStoreHits(b *testing.B) {
	for _, global := range []bool{false, true} {
		config := e2eConfig
		if global {
			config = globalConfig(false)
		}
		s := startStack(b, stackOptions{replicas: 2, config: config, rateLimit: &ratelimitrun.Options{}})
		s.addUser(b, "known@e2e.test", "u-known")
		for _, replicas := range []int{1, 2} {
			b.Run(fmt.Sprintf("global=%v/replicas=%d", global, replicas), func(b *testing.B) {
				hits, n := 0, 0
				for b.Loop() {
					n++
					c := clientFrom(fmt.Sprintf("127.%d.%d.%d", 8+replicas, n/250, n%250+1)) // a fresh address and user each time
					before := s.storeHit.get()
					for i := range 30 {
						s.verifyOn(b, s.envoys[i%replicas], c, verifyBody(fmt.Sprintf("guess%d@e2e.test", n), "000000"))
					}
					hits += s.storeHit.get() - before
				}
				b.ReportMetric(float64(hits)/float64(n), "store-hits/30-guesses")
			})
		}
	}
}
