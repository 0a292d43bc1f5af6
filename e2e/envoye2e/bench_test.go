package envoye2e

import (
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
	for _, c := range []struct{ name, body string }{
		{"rejected", `{"client_id":"other","connection":"email","username":"a@e2e.test","otp":"123456"}`},
		{"verified", verifyBody("s-200@e2e.test", "123456")},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", strings.NewReader(c.body))
				req.Header.Set("x-tenant-id", tenant)
				req.Header.Set("content-type", "application/json")
				start := time.Now()
				resp, err := keepAlive.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
				lat = append(lat, time.Since(start))
				if resp.StatusCode != 403 && resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
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
