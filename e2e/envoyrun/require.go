package envoyrun

import (
	"errors"
	"os"
	"testing"
)

// Require returns the Envoy binary for a test. Where none is installed the test skips with the
// way to get one, except in CI (CI set), where a missing Envoy is a failure.
func Require(tb testing.TB) string {
	tb.Helper()
	bin, err := Binary()
	if err == nil {
		return bin
	}
	if os.Getenv("CI") != "" || !errors.Is(err, ErrNoEnvoy) {
		tb.Fatalf("envoy: %v", err)
	}
	tb.Skipf("skipping: %v", err)
	return ""
}
