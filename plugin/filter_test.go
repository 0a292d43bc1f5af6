package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// TestRouting: SPEC 3; POST to exactly verify_path is the verify request, the query ignored;
// another method on it is 405, a lookalike of it 404, for every method, before the tenant;
// other paths pass through untouched.
func TestRouting(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(`"verify_path": "/pv", "user_store": {"cluster": "userstore"}`),
			map[string]wasmhost.Cluster{"userstore": okStore()})
		for _, c := range []struct {
			method, path string
			want         uint32 // 0: passed through
		}{
			{"POST", "/pv", 200},
			{"POST", "/pv?x=1&y", 200},
			{"POST", "/passwordless/verify", 0},
			{"GET", "/pv", 405},
			{"PUT", "/pv", 405},
			{"post", "/pv", 405},
			{"POST", "/pv/", 404},
			{"POST", "/PV", 404},
			{"GET", "/Pv;x=1?y", 404},
			{"POST", "/pvx", 0},
			{"POST", "/p/v", 0},
		} {
			r := acme(validBody)
			r.method, r.path = c.method, c.path
			got := vm.do(t, r)
			switch {
			case c.want == 0 && (!got.forwarded || string(got.body) != validBody):
				t.Errorf("%s %s: %d, want it passed through untouched", c.method, c.path, got.status)
			case c.want != 0 && (got.forwarded || got.status != c.want):
				t.Errorf("%s %s: status %d forwarded %v, want %d", c.method, c.path, got.status, got.forwarded, c.want)
			}
		}
	})
}

// TestPluginStartFails: SPEC 2; a bad configuration stops the plugin with one critical line
// naming the field.
func TestPluginStartFails(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		for cfg, field := range map[string]string{
			``:                        "configuration: empty; required: tenants, user_store.cluster",
			`{}`:                      "tenants, user_store.cluster: required",
			`{"tenants":{"acme":{}}}`: "user_store.cluster: required",
			configWith(`"user_store": {"cluster": "userstore"}, "mode": "forward"`): "mode: unknown key",
		} {
			_, err := h.start(t, cfg, nil)
			if err == nil || !strings.Contains(err.Error(), "passwordless_verify: invalid configuration: "+field) {
				t.Errorf("config %.40q: %v, want the line naming %q", cfg, err, field)
			}
		}
	})
}

// TestUserStoreLatency: SPEC 10's histogram gets the time the store took, in milliseconds;
// and the store is called at its cluster name when no authority is configured (SPEC 6).
func TestUserStoreLatency(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		slow := wasmhost.ClusterFunc(func(ctx context.Context, r *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
			time.Sleep(30 * time.Millisecond)
			return okStore().RoundTrip(ctx, r)
		})
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": slow})
		if got := vm.do(t, acme(validBody)); got.status != 200 {
			t.Fatalf("status %d", got.status)
		}
		if ms := vm.histogramLast(t, "passwordless_verify.user_store_latency_ms"); ms < 30 || ms > 5000 {
			t.Errorf("latency %d ms for a 30 ms store", ms)
		}
		if a := headerValue(h.callouts()[0].Headers, ":authority"); a != "userstore" {
			t.Errorf(":authority %q, want the cluster name", a)
		}
	})
}

// TestRequestTrailers: a body that ends with trailers is read when they come (no body callback
// says end of stream then), in both success modes, and a pass-through keeps them.
func TestRequestTrailers(t *testing.T) {
	trailers := [][2]string{{"x-checksum", "abc"}}
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": okStore()})
		for _, chunk := range []int{0, 7} {
			r := acme(validBody)
			r.trailers, r.chunk = trailers, chunk
			if got := vm.do(t, r); got.status != 200 || string(got.body) != `{"user_id":"u1"}` {
				t.Errorf("chunk %d: %d %s", chunk, got.status, got.body)
			}
		}
		r := acme(`{"client_id":"acme-web"}`)
		r.trailers = trailers
		checkError(t, vm.do(t, r), filter.ErrMissingUsername, "")
		r = request{method: "POST", path: "/other", body: "hello", trailers: trailers}
		if got := vm.do(t, r); !got.forwarded || string(got.body) != "hello" {
			t.Errorf("pass-through: %+v", got)
		}
		small := h.mustStart(t, configWith(`"max_request_bytes": 20, "user_store": {"cluster": "userstore"}`),
			map[string]wasmhost.Cluster{"userstore": okStore()})
		r = acme(validBody)
		r.trailers, r.chunk = trailers, 10
		checkError(t, small.do(t, r), filter.ErrTooLarge, "")
	})
	vmTest(t, func(t *testing.T, h *harness) {
		vm := h.mustStart(t, configWith(forwardConfig), map[string]wasmhost.Cluster{"userstore": okStore()})
		r := acme(validBody)
		r.trailers = trailers
		got := vm.do(t, r)
		want := `{"client_id":"acme-web","connection":"email","username":"a@example.com"}`
		if !got.forwarded || string(got.body) != want {
			t.Fatalf("forwarded %v: %d %s", got.forwarded, got.status, got.body)
		}
		if v := headerValue(got.headers, "x-passwordless-user-id"); v != "u1" {
			t.Errorf("identity header %q", v)
		}
	})
}
