package main

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// TestTwoVMsRace: real VMs on wasm share one store and race on the secret and on one key
// (proxytest has one VM; the filter's own tests force the race step by step).
func TestTwoVMsRace(t *testing.T) {
	t.Run("wasm", func(t *testing.T) {
		wasmModule(t)
		for range 3 {
			shared := wasmhost.NewSharedData()
			store := &otpStore{}
			cfg := protectionConfig(`"max_attempts": 3`)
			vms := make([]*wasmVM, 4)
			errs := make([]error, len(vms))
			var wg sync.WaitGroup
			for i := range vms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					vms[i], errs[i] = startWasm(t, cfg, map[string]wasmhost.Cluster{"userstore": store}, shared)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			// Requests for one key on every VM, all before any answer: three reach the store.
			var streams []*wasmhost.Stream
			var owners []*wasmVM
			for i := range 8 {
				vm := vms[i%len(vms)]
				streams = append(streams, vm.send(t, attemptReq("a@example.com", "10.0.0.1", "bad")))
				owners = append(owners, vm)
			}
			k := map[uint32]int{}
			for i, s := range streams {
				k[owners[i].finish(t, s, nil).status]++
			}
			if n := store.calls.Load(); n != 3 || k[401] != 3 || k[429] != 5 {
				t.Errorf("%d store calls, answers %v; want 3 calls, 3×401, 5×429", n, k)
			}
			v, _, _ := shared.Get("", filter.SecretKey)
			if len(v) != filter.SecretSize || bytes.Equal(v, make([]byte, filter.SecretSize)) {
				t.Errorf("secret %x", v)
			}
		}
	})
}
