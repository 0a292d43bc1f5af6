package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/passwordless-verify/filter/e2e/bench"
)

const wrkOutput = `Running 2s test @ http://127.0.0.1:40000/passwordless/verify
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.44us    1.03ms  20.11ms   93.51%
    Req/Sec     4.41k   512.10     5.20k    70.00%
  Latency Distribution
     50%  586.00us
     75%  801.00us
     90%    1.30ms
     99%    7.58ms
  17612 requests in 2.00s, 3.12MB read
  Socket errors: connect 0, read 1, write 0, timeout 0
  Non-2xx or 3xx responses: 17612
Requests/sec:   8805.33
Transfer/sec:      1.56MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkRun{requests: 17612, rps: 8805.33, p50: 586 * time.Microsecond, p99: 7580 * time.Microsecond,
		non2xx: 17612, socketErrors: "connect 0, read 1, write 0, timeout 0"}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if _, err := parseWrk("unable to connect"); err == nil {
		t.Error("no error for output without results")
	}
}

func TestCPUTicks(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := cpuTicks(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

// TestLuaScriptUsers runs the verified path's script in the real wrk: every request is the
// path's body with another username, so no key of attack protection is used twice.
func TestLuaScriptUsers(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed")
	}
	var p bench.Path
	for _, q := range bench.Paths() {
		if q.Name == "verified" {
			p = q
		}
	}
	var (
		mu    sync.Mutex
		users = map[string]int{}
		bad   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user := gjson.GetBytes(body, "username").Str
		mu.Lock()
		defer mu.Unlock()
		want := strings.Replace(p.Body, benchUser, user, 1)
		if !gjson.ValidBytes(body) || r.Method != p.Method || string(body) != want || !strings.HasSuffix(user, "@example.com") {
			bad = append(bad, string(body))
		}
		users[user]++
	}))
	defer srv.Close()
	script := filepath.Join(t.TempDir(), "verified.lua")
	if err := os.WriteFile(script, luaScript(p), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runWrk(wrk, script, srv.URL+p.Path, options{threads: 2, conns: 4}, time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d bodies are not the path's body with another username, e.g. %s", len(bad), bad[0])
	}
	for u, n := range users {
		if n > 1 {
			t.Fatalf("username %q sent %d times", u, n)
		}
	}
	if len(users) < 100 {
		t.Fatalf("only %d requests", len(users))
	}
}

// TestPrintResults: the table carries the service's CPU and the total, and the ratios the
// goals are judged by divide the right figures.
func TestPrintResults(t *testing.T) {
	us := time.Microsecond
	var results []result
	for _, r := range []struct {
		variant   string
		cpu, svc  time.Duration
		hasSvc    bool
		rps, reqs float64
	}{
		{"none", 50 * us, 0, false, 1000, 2000}, {"floor", 40 * us, 0, false, 1000, 2000},
		{"ours", 50 * us, 0, false, 900, 1800}, {"ours-scoped", 60 * us, 0, false, 800, 1600},
		{"ext_authz", 80 * us, 20 * us, true, 1000, 2000},
	} {
		results = append(results, result{variant: r.variant, path: "rejected", cpuPerReq: r.cpu, svcPerReq: r.svc, hasSvc: r.hasSvc,
			rps: r.rps, requests: int(r.reqs), socketErrors: "none"})
	}
	var out strings.Builder
	if err := printResults(&out, bench.Paths(), results); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"ext_authz rejected 1000 0s 0s 80.0µs 20.0µs 100.0µs 2000 0 none",
		"ours rejected 900 0s 0s 50.0µs - 50.0µs 1800 0 none",
		"rejected 1.25 1.00 1.20 0.60 0.50 80%",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q:\n%s", want, out.String())
		}
	}
}
