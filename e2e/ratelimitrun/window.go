package ratelimitrun

import (
	"testing"
	"time"
)

// Window is the unit of the shipped limits: the service counts per fixed clock hour, and every
// count starts again when the hour turns.
const Window = time.Hour

// InOneWindow runs try (with the try's number, so it can use fresh keys) until one run falls
// inside one window. A run that fails across the turn of a window is run again, at most twice:
// its counts were reset halfway. A run that fails inside one window fails tb.
func InOneWindow(tb testing.TB, try func(n int) error) {
	tb.Helper()
	for n := range 3 {
		start := time.Now().Truncate(Window)
		err := try(n)
		if err == nil {
			return
		}
		if time.Now().Truncate(Window).Equal(start) {
			tb.Fatal(err)
		}
		tb.Logf("the service's window turned during try %d, trying again: %v", n, err)
	}
	tb.Fatal("three tries, each across the turn of a window")
}
