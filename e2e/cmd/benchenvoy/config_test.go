package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/passwordless-verify/filter/e2e/authzpeer"
	"github.com/passwordless-verify/filter/e2e/bench"
	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

var localYAML = filepath.Join("..", "..", "..", "envoy", "local.yaml")

// render is the variant's bootstrap as Envoy gets it, as plain JSON values.
func render(t *testing.T, v variant) map[string]any {
	t.Helper()
	y, err := os.ReadFile(localYAML)
	if err != nil {
		t.Fatal(err)
	}
	b, err := envoyrun.ParseBootstrap(y)
	if err != nil {
		t.Fatal(err)
	}
	if err := edit(v, "127.0.0.1:1234")(b); err != nil {
		t.Fatal(err)
	}
	j, err := b.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(j, &root); err != nil {
		t.Fatal(err)
	}
	return root
}

// chainOf lists the HTTP filters as "name" or "name (disabled)", and the routes as the
// filters each enables and whether it removes the identity headers.
func chainOf(t *testing.T, root map[string]any) (chain, routes []string) {
	t.Helper()
	hcm := dig(root, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config").(map[string]any)
	if _, ok := hcm["access_log"]; ok {
		t.Error("access_log is on")
	}
	for _, f := range hcm["http_filters"].([]any) {
		f := f.(map[string]any)
		s := f["name"].(string)
		if f["disabled"] == true {
			s += " (disabled)"
		}
		chain = append(chain, s)
	}
	for _, r := range dig(hcm, "route_config", "virtual_hosts", 0, "routes").([]any) {
		r := r.(map[string]any)
		var s []string
		for name, c := range mapOr(r["typed_per_filter_config"]) {
			if c.(map[string]any)["@type"] != filterConfig || c.(map[string]any)["disabled"] == true {
				t.Errorf("route %v: %s's config is not an enabling FilterConfig", r["match"], name)
			}
			s = append(s, "+"+name)
		}
		if rm, ok := r["request_headers_to_remove"]; ok {
			j, _ := json.Marshal(rm)
			s = append(s, "-"+string(j))
		}
		routes = append(routes, strings.Join(s, " "))
	}
	return chain, routes
}

func TestVariantConfigs(t *testing.T) {
	const wasm, authz, router = "envoy.filters.http.wasm", "envoy.filters.http.ext_authz", "envoy.filters.http.router"
	const removes = `-["x-passwordless-tenant","x-passwordless-user-id","x_passwordless_tenant","x_passwordless_user_id"]`
	cases := []struct {
		v             variant
		chain, routes []string
	}{
		{variant{name: "none"}, []string{router}, []string{""}},
		{variant{name: "ours", wasm: "x.wasm"}, []string{wasm, router}, []string{""}},
		{variant{name: "ours-scoped", wasm: "x.wasm", scoped: true}, []string{wasm + " (disabled)", router}, []string{"+" + wasm, "+" + wasm, removes}},
		{variant{name: "ext_authz", peer: true}, []string{authz + " (disabled)", router}, []string{"+" + authz, "", removes}},
	}
	for _, c := range cases {
		t.Run(c.v.name, func(t *testing.T) {
			root := render(t, c.v)
			chain, routes := chainOf(t, root)
			if !slices.Equal(chain, c.chain) || !slices.Equal(routes, c.routes) {
				t.Errorf("chain %q routes %q, want %q %q", chain, routes, c.chain, c.routes)
			}
			var clusters []string
			for _, cl := range dig(root, "static_resources", "clusters").([]any) {
				clusters = append(clusters, cl.(map[string]any)["name"].(string))
			}
			if slices.Contains(clusters, authzCluster) != c.v.peer {
				t.Errorf("clusters %v", clusters)
			}
		})
	}
}

func TestLookalikeRegex(t *testing.T) {
	re := lookalikeRegex("/passwordless/verify", defaultRedir)
	// Envoy's safe_regex must match the whole path; anchor it here the same way.
	for path, want := range map[string]bool{
		"/passwordless/verify": true, "/Passwordless/Verify": true, "/passwordless/verify/": true,
		"/passwordless/verify;a=b": true, "/passwordless/verify_redirect": true, "/PASSWORDLESS/VERIFY_REDIRECT/": true,
		"/passwordless/verifyx": false, "/passwordless/verify/x": false, "/userinfo": false, "/a/passwordless/verify": false,
	} {
		if got := regexp.MustCompile("^(?:" + re + ")$").MatchString(path); got != want {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
}

// TestScopedInEnvoy runs the scoped variants in the real Envoy: every measured path gets the
// status the benchmark expects, the peer's service sees the verify route's requests and no
// other, Envoy answers lookalikes and oversized bodies itself, and no identity header a client
// forges reaches the upstream on the routes the filter does not run on.
func TestScopedInEnvoy(t *testing.T) {
	bin := envoyrun.Require(t)
	root, err := envoyrun.Root()
	if err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(root, "build", "plugin.wasm")
	if _, err := os.Stat(ours); err != nil {
		t.Skipf("no build/plugin.wasm (make build): %v", err)
	}
	floorWasm = ours // start names a module for a variant without one
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("set-cookie", "sid=1")
		_, _ = io.WriteString(w, bench.StoreAnswer)
	}))
	defer store.Close()
	var mu sync.Mutex
	var forged []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for name := range r.Header {
			if strings.Contains(strings.ToLower(name), "passwordless") {
				forged = append(forged, name)
			}
		}
		mu.Unlock()
	}))
	defer upstream.Close()
	cfg, err := authzpeer.ParseConfig([]byte(bench.Config))
	if err != nil {
		t.Fatal(err)
	}
	svc := authzpeer.New(cfg, strings.TrimPrefix(store.URL, "http://"))
	authz := httptest.NewServer(svc)
	defer authz.Close()

	o := options{workers: 1, wasmLog: "warn"}
	for _, v := range []variant{{name: "ours-scoped", wasm: ours, scoped: true}, {name: "ext_authz", peer: true}} {
		t.Run(v.name, func(t *testing.T) {
			e, err := start(bin, v, o, strings.TrimPrefix(store.URL, "http://"), strings.TrimPrefix(upstream.URL, "http://"), strings.TrimPrefix(authz.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = e.Stop() }()
			for _, p := range bench.Paths() {
				if err := check(e, p, want(v, p)); err != nil {
					t.Errorf("%s: %v", p.Name, err)
				}
			}
			pass := bench.Paths()[2]
			pass.Headers = append(slices.Clone(pass.Headers), [2]string{"x-passwordless-user-id", "forged"}, [2]string{"x-passwordless_tenant", "forged"})
			if err := check(e, pass, 200); err != nil {
				t.Error(err)
			}
			mu.Lock()
			if len(forged) > 0 {
				t.Errorf("the upstream got %v", forged)
			}
			mu.Unlock()
			if !v.peer {
				return
			}
			verified := bench.Paths()[1]
			resp := send(t, e.URL, verified.Method, verified.Path, verified.Body, verified.Headers)
			if resp.status != 200 || resp.body != successAnswer || resp.cookie != "sid=1" || resp.contentType != "application/json" {
				t.Errorf("verified: %+v", resp)
			}
			if r := send(t, e.URL, "POST", "/Passwordless/Verify;x=1", verified.Body, verified.Headers); r.status != 404 || r.body != unknownPath {
				t.Errorf("lookalike: %+v", r)
			}
			if r := send(t, e.URL, "POST", verified.Path, strings.Repeat(" ", 20000)+verified.Body, verified.Headers); r.status != 413 {
				t.Errorf("oversized body: %+v", r)
			}
			// The service saw the two verify-route requests of check and the one above, nothing else.
			n := 0
			for _, c := range svc.Counts() {
				n += c
			}
			if c := svc.Counts(); n != 3 || c["verified"] != 2 || c["unauthorized_client"] != 1 {
				t.Errorf("the service's answers: %v", c)
			}
		})
	}
}

type reply struct {
	status                    int
	body, cookie, contentType string
}

func send(t *testing.T, base, method, path, body string, headers [][2]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("set-cookie"), resp.Header.Get("content-type")}
}

// dig walks object keys and list indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = mapOr(v)[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func mapOr(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
