package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// switchStore answers 401 invalid_user_password until ok is set.
type switchStore struct {
	ok    atomic.Bool
	calls atomic.Int64
}

func (s *switchStore) RoundTrip(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
	s.calls.Add(1)
	if s.ok.Load() {
		return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "200"}}, Body: []byte(`{"user_id":"u"}`)}, nil
	}
	return &wasmhost.CalloutResponse{Headers: [][2]string{{":status", "401"}}, Body: []byte(`{"error":"invalid_user_password"}`)}, nil
}

func TestAttackProtection(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		store := &switchStore{}
		vm := h.mustStart(t, configWith(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": 3, "window_seconds": 600}`),
			map[string]wasmhost.Cluster{"userstore": store})
		try := func(username, source string) outcome {
			body := `{"client_id":"acme-web","connection":"email","username":"` + username + `","otp":"1"}`
			return vm.do(t, request{headers: [][2]string{{"x-tenant-id", "acme"}}, body: body, source: source + ":1234"})
		}
		for i := 0; i < 3; i++ {
			checkError(t, try("a@example.com", "10.0.0.1"), errWrongCode, "")
		}
		// The key is case-insensitive on the username and ignores the source port.
		checkError(t, try("A@EXAMPLE.COM", "10.0.0.1"), errTooManyAttempts, "")
		if store.calls.Load() != 3 {
			t.Errorf("%d store calls; a blocked attempt must not reach the store", store.calls.Load())
		}
		// Another IP, or another user, is a different key.
		checkError(t, try("a@example.com", "10.0.0.2"), errWrongCode, "")
		store.ok.Store(true)
		if got := try("b@example.com", "10.0.0.1"); got.status != 200 {
			t.Fatalf("other user: %d", got.status)
		}
		// A success clears the key: 10.0.0.2 had one failure, succeeds, then has three again.
		if got := try("a@example.com", "10.0.0.2"); got.status != 200 {
			t.Fatalf("success: %d", got.status)
		}
		store.ok.Store(false)
		for i := 0; i < 3; i++ {
			checkError(t, try("a@example.com", "10.0.0.2"), errWrongCode, "")
		}
		checkError(t, try("a@example.com", "10.0.0.2"), errTooManyAttempts, "")
	})
}

// TestAttackProtectionAcrossWorkers: Envoy workers are separate VMs sharing one shared-data
// store; concurrent failures must all be counted (wasm mode only: proxytest has one VM).
func TestAttackProtectionAcrossWorkers(t *testing.T) {
	const workers, perWorker = 4, 5
	store := &switchStore{}
	shared := wasmhost.NewSharedData()
	cfg := configWith(fmt.Sprintf(`"user_store": {"cluster": "userstore"}, "attack_protection": {"max_attempts": %d}`, workers*perWorker))
	vms := make([]*wasmVM, workers)
	for i := range vms {
		vm, err := startWasm(t, cfg, map[string]wasmhost.Cluster{"userstore": store}, shared)
		if err != nil {
			t.Fatal(err)
		}
		vms[i] = vm
	}
	var wg sync.WaitGroup
	for _, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perWorker; j++ {
				vm.do(t, acme(validBody))
			}
		}()
	}
	wg.Wait()
	got := vms[0].do(t, acme(validBody))
	checkError(t, got, errTooManyAttempts, "")
	if n := store.calls.Load(); n != workers*perWorker {
		t.Errorf("%d store calls, want %d", n, workers*perWorker)
	}
}

// TestCodeNeverLogged: SPEC 9; the code must not appear in a log line or an error, on any
// path, even when the client puts it where a key belongs.
func TestCodeNeverLogged(t *testing.T) {
	const code = "S3CRET-0TP"
	form := [2]string{"content-type", "application/x-www-form-urlencoded"}
	vmTest(t, func(t *testing.T, h *harness) {
		for _, store := range []wasmhost.Cluster{okStore(), storeReply("401", `{"error":"invalid_user_password"}`), storeReply("500", "")} {
			vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": store})
			for _, r := range []request{
				acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"` + code + `"}`),
				acme(`{"client_id":"acme-web","connection":"sms","username":"a","otp":"` + code + `"}`),
				acme(`{"client_id":"acme-web","connection":"email","username":"a","otp":"` + code + `","otp":"x"}`),
				// A JSON body labelled as a form: the whole text becomes one dotted key.
				acme(`{"u":"a.b","otp":"`+code+`"}`, form),
				acme(`{"` + code + `":1,"` + code + `":2}`),
				acme(`{"` + code + `.x":1}`),
				acme(code+`.x=1`, form),
			} {
				if got := vm.do(t, r); strings.Contains(string(got.body), code) && !got.forwarded {
					t.Errorf("answer %d carries the code: %s", got.status, got.body)
				}
			}
			logs := vm.logs()
			if len(logs) == 0 {
				t.Fatal("no log lines: the test would prove nothing")
			}
			for _, l := range logs {
				if strings.Contains(l, code) {
					t.Errorf("log line carries the code: %s", l)
				}
			}
		}
	})
}

// mapData is shared data in a map, for the plain-Go tests of attempts.
type mapData struct {
	m   map[string][]byte
	cas map[string]uint32
}

func (d *mapData) get(key string) ([]byte, uint32, bool, error) {
	v, ok := d.m[key]
	return v, d.cas[key], ok, nil
}

func (d *mapData) set(key string, value []byte, cas uint32) (bool, error) {
	if cas != 0 && cas != d.cas[key] {
		return true, nil
	}
	d.m[key] = value
	d.cas[key]++
	return false, nil
}

// TestAttemptsBounded: a client spraying usernames cannot grow shared data without bound.
func TestAttemptsBounded(t *testing.T) {
	d := &mapData{m: map[string][]byte{}, cas: map[string]uint32{}}
	a := &attempts{data: d, max: 3, window: 60}
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20000; i++ {
		if err := a.fail(attemptDigest("acme", "email", fmt.Sprint("u", i), "10.0.0.2"), 101); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, v := range d.m {
		total += len(v)
	}
	if limit := attemptBuckets * bucketEntries * entrySize; total > limit || len(d.m) != attemptBuckets {
		t.Errorf("%d bytes in %d keys, limit %d bytes in %d keys", total, len(d.m), limit, attemptBuckets)
	}
	// The window ends: the count starts again.
	if blocked, _ := a.blocked(attemptDigest("acme", "email", "u19999", "10.0.0.2"), 161); blocked {
		t.Error("blocked after the window")
	}
}
