//go:build !wasip1

package main

import "crypto/rand"

// hostRandom is the host's randomness, for the attack protection secret; natively, the OS's.
var hostRandom = rand.Reader
