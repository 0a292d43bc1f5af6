package main

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// TestMetrics: SPEC 10 counters count handled requests only, by outcome.
func TestMetrics(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		var fail atomic.Bool
		store := wasmhost.ClusterFunc(func(ctx context.Context, r *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			if fail.Load() {
				return storeReply("500", "").RoundTrip(ctx, r)
			}
			return okStore().RoundTrip(ctx, r)
		})
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": store})
		vm.do(t, request{method: "GET", path: "/"})                      // not handled
		vm.do(t, acme(validBody))                                        // verified
		vm.do(t, acme(`{"client_id":"acme-web"}`))                       // invalid_request
		vm.do(t, request{headers: [][2]string{{"x-tenant-id", "nope"}}}) // bad.tenant
		fail.Store(true)
		vm.do(t, acme(validBody)) // server_error, a store failure
		checkCounters(t, vm, map[string]uint64{
			"passwordless_verify.requests":              4,
			"passwordless_verify.verified":              1,
			"passwordless_verify.error.invalid_request": 1,
			"passwordless_verify.error.bad.tenant":      1,
			"passwordless_verify.error.server_error":    1,
			"passwordless_verify.error.access_denied":   0,
			"passwordless_verify.user_store_failures":   1,
		})
	})
}

// checkCounters asserts the value of each named counter.
func checkCounters(t *testing.T, vm filterVM, want map[string]uint64) {
	t.Helper()
	for name, w := range want {
		if got := vm.counter(t, name); got != w {
			t.Errorf("%s = %d, want %d", name, got, w)
		}
	}
}
