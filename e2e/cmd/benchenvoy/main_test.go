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
