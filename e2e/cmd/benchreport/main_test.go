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
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
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
