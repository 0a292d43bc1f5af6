package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkWasmPair/rejected-2   	   100	  60000 ns/op	  20000 floor-ns/op	  40000 ours-ns/op	  2.000 ours/floor
BenchmarkWasmPair/rejected-2   	   100	  60000 ns/op	  20000 floor-ns/op	  40000 ours-ns/op	  3.000 ours/floor
BenchmarkWasmPair/rejected-2   	   100	  60000 ns/op	  20000 floor-ns/op	  40000 ours-ns/op	  1.000 ours/floor
BenchmarkWasm/rejected/ours-2  	   100	  40000 ns/op	  2.000 abi-allocs/op	  20.00 guest-allocs/op	  7.000 host-calls/op	  5952 linear-KiB	  5207 B/op	  78 allocs/op
BenchmarkWasm/rejected/floor-2 	   100	  20000 ns/op	  4.000 abi-allocs/op	  19.00 guest-allocs/op	  5.000 host-calls/op	  4864 linear-KiB	  5079 B/op	  83 allocs/op
BenchmarkPipeline/rejected-2        	 100	  1000 ns/op	  2406 B/op	  30 allocs/op
BenchmarkPipeline/rejected/gjson.Valid-2	 100	  100.0 ns/op	 1000.00 MB/s	 0 B/op	 0 allocs/op
BenchmarkWasmMemory-2   	  100000	     88294 ns/op	      6016 linear-KiB
PASS
`

func TestReport(t *testing.T) {
	r := parse(strings.Split(sample, "\n"))
	if v, _ := r.get("BenchmarkWasmPair/rejected", "ours/floor"); v != 2 {
		t.Errorf("median ratio %v, want 2", v)
	}
	var out strings.Builder
	if err := report(&out, r, "BenchmarkWasm/", "BenchmarkWasmPair/", "BenchmarkPipeline/", "BenchmarkPipeline/%s/gjson.Valid"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rejected  40000  20000  2.00  2.00  20  19  2  4  7  5  5952  4864", "rejected  1000  30  2406  100.0  10.0", "6016  KiB  =  5.88  MiB"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), "  "), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

const sampleSections = `BenchmarkWasmPair/verified-2   	   100	  60000 ns/op	  20000 floor-ns/op	  60000 ours-ns/op	  3.000 ours/floor
BenchmarkWasm/verified/ours-2  	   100	  60000 ns/op	  8.000 abi-allocs/op	  52.00 guest-allocs/op	  21.00 host-calls/op	  5632 linear-KiB
BenchmarkWasm/verified/floor-2 	   100	  20000 ns/op	  6.000 abi-allocs/op	  32.00 guest-allocs/op	  9.000 host-calls/op	  5120 linear-KiB

== guest profile, ours beside the floor ==
verified: build/plugin.names.wasm 192.6 µs, build/floor.names.wasm 63.6 µs a request with the listeners on (inclusive time per request; calls per request)
       µs   calls     vs µs   calls  function
    81.79    1.00     20.44    1.00  proxy_on_request_body
     4.33    4.00      0.00    0.00  proxywasm_internal.hostGetSharedData
     1.81    1.00      3.11    2.00  proxywasm_internal.hostGetHeaderMapValue

== Envoy: no filter / the floor / ours, wrk on loopback ==
No filter: every path goes to the upstream (200). Access logging is off in all three; the wasm log level is info.
  filter         path  requests/s     p50     p99  CPU/req  requests  wrong status  socket errors
    none     verified       10000   565µs  1.57ms   90.0µs     80807             0           none
   floor     verified        8000   890µs  1.94ms  160.0µs     51284             0           connect 0, read 1, write 0, timeout 0
    ours     verified        5600  1.34ms  2.56ms  246.5µs     34233             3           none

== Envoy: no filter / the floor / ours, wrk on loopback ==
No filter: every path goes to the upstream (200). Access logging is off in all three; the wasm log level is warn.
  filter         path  requests/s     p50     p99  CPU/req  requests  wrong status  socket errors
    none     verified       10000   565µs  1.57ms   90.0µs     80807             0           none
   floor     verified        8000   890µs  1.94ms  160.0µs     51284             0           none
    ours     verified        6400  1.34ms  2.56ms  246.5µs     34233             0           none
`

func TestGoals(t *testing.T) {
	lines := strings.Split(sampleSections, "\n")
	var out strings.Builder
	printGoals(&out, judge(parse(lines), parseSections(lines), "BenchmarkWasm/", "BenchmarkWasmPair/", "BenchmarkPipeline/", "BenchmarkPipeline/%s/gjson.Valid", 4_600_000))
	for _, want := range []string{
		"missed  wazero ours/floor, verified: 3.00 — ours makes 21 host calls to the floor's 9 (+4 GetSharedData, -1 GetHeaderMapValue in the guest profile)",
		"missed  guest allocations, verified: 52 (floor 32) — the floor itself makes 32",
		"missed  plugin.wasm: 4600000 bytes",
		"missed  Envoy ours/floor requests/s, verified: 70% — with Envoy's wasm log at warn, which drops the SPEC 10 line per request, 80%; " +
			"the host calls ours adds: +4 GetSharedData, -1 GetHeaderMapValue; 3 answers had the wrong status",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("goals lack %q:\n%s", want, out.String())
		}
	}
}
