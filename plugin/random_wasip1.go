//go:build wasip1

package main

import (
	"io"
	"syscall"
	"unsafe"
)

// randomGet is WASI's source of randomness, the one crypto/rand reads under wasip1. Calling it
// directly keeps crypto/rand, and the FIPS module it brings, out of the plugin.
//
//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf unsafe.Pointer, size uint32) uint32

// hostRandom is the host's randomness, for the attack protection secret.
var hostRandom io.Reader = wasiRandom{}

type wasiRandom struct{}

// maxRandomRead bounds one call; io.ReadFull asks again for the rest.
const maxRandomRead = 1 << 16

func (wasiRandom) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(len(p), maxRandomRead)]
	if errno := randomGet(unsafe.Pointer(&p[0]), uint32(len(p))); errno != 0 { //nolint:gosec // G115: at most maxRandomRead
		return 0, syscall.Errno(errno)
	}
	return len(p), nil
}
