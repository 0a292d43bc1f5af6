package main

import (
	"os"
	"testing"
	"time"
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
