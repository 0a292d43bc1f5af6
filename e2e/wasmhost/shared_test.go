package wasmhost

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
)

func TestSharedDataCAS(t *testing.T) {
	d := NewSharedData()
	if _, _, ok := d.Get("vm", "k"); ok {
		t.Fatal("empty store has k")
	}
	if err := d.Set("vm", "k", []byte("a"), 12345); err != nil {
		t.Fatalf("a missing key accepts any cas: %v", err)
	}
	v, cas, ok := d.Get("vm", "k")
	if !ok || string(v) != "a" || cas == 0 {
		t.Fatalf("get %q %d %v", v, cas, ok)
	}
	if err := d.Set("vm", "k", []byte("b"), cas+1); !errors.Is(err, ErrCasMismatch) {
		t.Errorf("stale cas: %v", err)
	}
	if err := d.Set("vm", "k", []byte("b"), cas); err != nil {
		t.Errorf("current cas: %v", err)
	}
	if err := d.Set("vm", "k", []byte("c"), 0); err != nil {
		t.Errorf("cas 0 is unconditional: %v", err)
	}
	if _, _, ok := d.Get("other-vm", "k"); ok {
		t.Error("vm_ids must not share keys")
	}
	if v, _, _ := d.Get("vm", "k"); string(v) != "c" {
		t.Errorf("value %q", v)
	}
}

// Several VMs (Envoy workers) bump one counter with get + CAS set; none may be lost.
func TestSharedDataAcrossVMs(t *testing.T) {
	const vms, requests = 4, 50
	shared := NewSharedData()
	var wg sync.WaitGroup
	errs := make(chan error, vms)
	for i := 0; i < vms; i++ {
		vm := probe(t, Config{Shared: shared, VMID: "workers"}, "shared_key", "count", "shared_spin", "20")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < requests; j++ {
				if _, err := vm.Do(context.Background(), Request{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, _, _ := shared.Get("workers", "count")
	if n, _ := strconv.Atoi(string(v)); n != vms*requests {
		t.Errorf("count %q, want %d", v, vms*requests)
	}
	if keys := shared.Keys("workers"); len(keys) != 1 || keys[0] != "count" {
		t.Errorf("keys %v", keys)
	}
}
