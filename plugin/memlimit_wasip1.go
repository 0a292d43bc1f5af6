//go:build wasip1

package main

import "runtime/debug"

// vmMemoryLimit caps the Go heap of one VM. Envoy runs one VM per worker and the Go runtime
// never returns memory to the host, so an uncapped heap only grows. Only the module gets it:
// a native test process would spend its time collecting garbage.
const vmMemoryLimit = 4 << 20

func init() { debug.SetMemoryLimit(vmMemoryLimit) }
