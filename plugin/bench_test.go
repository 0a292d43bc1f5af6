package main

import (
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// BenchmarkRequest measures one whole verify request through the filter, natively and on
// plugin.wasm: a request the filter rejects itself, and one verified by a user store answer
// (the store is an in-process function, so the number is the filter's and the host's cost).
func BenchmarkRequest(b *testing.B) {
	cases := []struct {
		name string
		req  request
	}{
		{"passthrough", request{method: "GET", path: "/userinfo", headers: [][2]string{
			{"accept", "application/json"}, {"user-agent", "bench"}, {"x-request-id", "r"}, {"cookie", "a=b"}}}},
		{"rejected", acme(`{"client_id":"acme-web","connection":"sms","username":"a@example.com","otp":"123456"}`)},
		{"verified", acme(validBody)},
	}
	// The same verified request with attack protection off: the difference is the cost of
	// its checks (take and settle, per key and per address) in a whole request.
	unprotected := configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": 0, "ip_max_failures": 0}`)
	for _, mode := range []string{"native", "wasm"} {
		for _, c := range cases {
			for _, cfg := range []string{testConfig, unprotected} {
				name := mode + "/" + c.name
				if cfg == unprotected {
					if c.name != "verified" {
						continue
					}
					name += "-unprotected"
				}
				benchRequest(b, name, mode, cfg, c.req)
			}
		}
	}
}

func benchRequest(b *testing.B, name, mode, cfg string, req request) {
	b.Run(name, func(b *testing.B) {
		var vm filterVM
		var err error
		clusters := map[string]wasmhost.Cluster{"userstore": okStore()}
		if mode == "wasm" {
			vm, err = startWasm(b, cfg, clusters, nil)
		} else {
			vm, err = startNative(b, cfg, clusters)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if got := vm.do(b, req); got.status == 0 && !got.forwarded {
				b.Fatal("neither answered nor forwarded")
			}
		}
	})
}

// TestVMMemoryStaysSmall: SPEC 11; one VM must stay within a few MiB under sustained load, so
// Envoy's per-worker VMs do not add up. Go's wasm memory never shrinks, so the size after a
// run of large and small requests is the high-water mark.
func TestVMMemoryStaysSmall(t *testing.T) {
	vm, err := startWasm(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := acme(`{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"1","pad":"` +
		strings.Repeat("x", filter.DefaultMaxRequestBytes-120) + `"}`)
	for i := 0; i < 1500; i++ {
		vm.do(t, acme(validBody))
		vm.do(t, big)
	}
	const limit = 12 << 20
	mem := vm.vm.MemoryBytes()
	t.Logf("linear memory after 3000 requests: %.1f MiB", float64(mem)/(1<<20))
	if mem > limit {
		t.Errorf("linear memory %d bytes, over %d", mem, limit)
	}
}
