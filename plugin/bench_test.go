package main

import (
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// BenchmarkRequest measures one whole verify request through the filter, natively and on
// plugin.wasm: a request the filter rejects itself, and one verified by a user store answer
// (the store is an in-process function, so the number is the filter's and the host's cost).
func BenchmarkRequest(b *testing.B) {
	cases := []struct {
		name string
		req  request
	}{
		{"rejected", acme(`{"client_id":"acme-web","connection":"sms","username":"a@example.com","otp":"123456"}`)},
		{"verified", acme(validBody)},
	}
	for _, mode := range []string{"native", "wasm"} {
		for _, c := range cases {
			b.Run(mode+"/"+c.name, func(b *testing.B) {
				var vm filterVM
				var err error
				clusters := map[string]wasmhost.Cluster{"userstore": okStore()}
				if mode == "wasm" {
					vm, err = startWasm(b, testConfig, clusters, nil)
				} else {
					vm, err = startNative(b, testConfig, clusters)
				}
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if got := vm.do(b, c.req); got.status == 0 {
						b.Fatal("no answer")
					}
				}
			})
		}
	}
}
