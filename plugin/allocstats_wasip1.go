//go:build wasip1 && allocstats

package main

import "runtime"

// guestMallocs is the count of Go heap allocations in this VM so far. Only a measuring build
// has it (-tags allocstats, make bench): the benchmarks read it to count the guest's
// allocations per request, which the host cannot see.
//
//go:wasmexport passwordless_verify_mallocs
func guestMallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}
