package envoy_test

// The Istio EnvoyFilters (envoyfilter.yaml, and the scoped variant in istio/scoped), patch by
// patch: the Wasm filter before the router, the HTTP connection manager settings of SPEC 3, 9
// and 10, and, scoped, the route that enables the filter, checked with the VirtualService
// that defines it.

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// istioFilter is what an EnvoyFilter does to the gateway, as far as the checks go.
type istioFilter struct {
	name     string          // the Wasm filter's name in the HTTP filter chain
	disabled bool            // inserted with disabled: true
	enables  map[string]bool // gateway route names its HTTP_ROUTE patches enable it on
}

// patchValue is a patch value as Envoy's message m, read with Envoy's schema.
func patchValue(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch, m proto.Message) error {
	value, err := protojson.Marshal(p.GetPatch().GetValue())
	if err != nil {
		return err
	}
	return unmarshalStrict(value, m)
}

// readEnvoyFilter checks an EnvoyFilter for the ingress gateway, each patch against Envoy's
// schema, and that the plugin it inserts verifies through its configured cluster.
func readEnvoyFilter(t *testing.T, j []byte, ps *problems) (*istioFilter, pluginRun) {
	apiVersion, kind, spec, err := istioResource(j)
	if err != nil {
		ps.addf("istio: %v", err)
		return nil, pluginRun{}
	}
	if apiVersion != "networking.istio.io/v1alpha3" || kind != "EnvoyFilter" {
		ps.addf("istio: %s %s, want networking.istio.io/v1alpha3 EnvoyFilter", apiVersion, kind)
	}
	var ef networkingv1alpha3.EnvoyFilter
	if err := unmarshalStrict(spec, &ef); err != nil {
		ps.addf("istio: not a valid EnvoyFilter spec: %v", err)
		return nil, pluginRun{}
	}
	if ef.GetWorkloadSelector().GetLabels()["istio"] != "ingressgateway" {
		ps.addf("istio: EnvoyFilter workloadSelector %v, want istio: ingressgateway", ef.GetWorkloadSelector().GetLabels())
	}
	out := &istioFilter{enables: map[string]bool{}}
	var run pluginRun
	seen := map[networkingv1alpha3.EnvoyFilter_ApplyTo]int{}
	for _, p := range ef.GetConfigPatches() {
		seen[p.GetApplyTo()]++
		if p.GetMatch().GetContext() != networkingv1alpha3.EnvoyFilter_GATEWAY {
			ps.addf("istio: EnvoyFilter %s patch match context %s, want GATEWAY", p.GetApplyTo(), p.GetMatch().GetContext())
		}
		switch p.GetApplyTo() {
		case networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
			run = checkWasmPatch(t, p, out, ps)
		case networkingv1alpha3.EnvoyFilter_NETWORK_FILTER:
			checkHCMPatch(p, ps)
		case networkingv1alpha3.EnvoyFilter_HTTP_ROUTE:
			checkRoutePatch(p, out, ps)
		default:
			ps.addf("istio: EnvoyFilter patch applyTo %s is not expected here", p.GetApplyTo())
		}
	}
	for _, want := range []networkingv1alpha3.EnvoyFilter_ApplyTo{networkingv1alpha3.EnvoyFilter_HTTP_FILTER, networkingv1alpha3.EnvoyFilter_NETWORK_FILTER} {
		if seen[want] != 1 {
			ps.addf("istio: want one %s patch, have %d", want, seen[want])
		}
	}
	return out, run
}

// checkWasmPatch: the Wasm filter goes in just before the router.
func checkWasmPatch(t *testing.T, p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch, out *istioFilter, ps *problems) pluginRun {
	fm := p.GetMatch().GetListener().GetFilterChain().GetFilter()
	if fm.GetName() != hcmName || fm.GetSubFilter().GetName() != routerName {
		ps.addf("istio: EnvoyFilter must match the router (%s) of the %s, matches %q / %q", routerName, hcmName, fm.GetName(), fm.GetSubFilter().GetName())
	}
	if p.GetPatch().GetOperation() != networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE {
		ps.addf("istio: EnvoyFilter patch operation %s, want INSERT_BEFORE (the router)", p.GetPatch().GetOperation())
	}
	// Istio turns the patch value into an HttpFilter of the HTTP connection manager: do the
	// same, with Envoy's schema.
	var hf hcmv3.HttpFilter
	if err := patchValue(p, &hf); err != nil {
		ps.addf("istio: the patch value is not an Envoy HTTP filter: %v", err)
		return pluginRun{}
	}
	if err := validateTree(&hf); err != nil {
		ps.addf("istio: Envoy would reject the patched filter: %v", err)
		return pluginRun{}
	}
	out.name, out.disabled = hf.GetName(), hf.GetDisabled()
	var w wasmfilterv3.Wasm
	if !hf.GetTypedConfig().MessageIs(&w) || hf.GetTypedConfig().UnmarshalTo(&w) != nil {
		ps.addf("istio: the patched filter is %s, not a Wasm filter", hf.GetTypedConfig().GetTypeUrl())
		return pluginRun{}
	}
	run := checkWasmFilter(&w, "", ps)
	if run.config != nil {
		cluster, err := userStoreCluster(run.config)
		if err != nil {
			ps.addf("istio: %v", err)
		}
		checkIstioCluster(cluster, ps)
		run.clusters = []string{cluster}
		run.checkVerifies(t, ps)
	}
	return run
}

// checkHCMPatch: the gateway's HTTP connection manager gets envoy.yaml's settings (SPEC 3, 9, 10).
func checkHCMPatch(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch, ps *problems) {
	if name := p.GetMatch().GetListener().GetFilterChain().GetFilter().GetName(); name != hcmName {
		ps.addf("istio: the NETWORK_FILTER patch matches %q, want %s", name, hcmName)
	}
	if op := p.GetPatch().GetOperation(); op != networkingv1alpha3.EnvoyFilter_Patch_MERGE {
		ps.addf("istio: the NETWORK_FILTER patch operation is %s, want MERGE (into Istio's connection manager)", op)
	}
	var f listenerv3.Filter
	var hcm hcmv3.HttpConnectionManager
	if err := patchValue(p, &f); err != nil || f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
		ps.addf("istio: the NETWORK_FILTER patch value is not an HTTP connection manager: %v", err)
		return
	}
	// A merged fragment, not a whole manager: validate what it brings.
	for _, al := range hcm.GetAccessLog() {
		if err := validateTree(al); err != nil {
			ps.addf("istio: Envoy would reject the access log: %v", err)
		}
	}
	checkHardening("istio: the NETWORK_FILTER patch", &hcm, ps)
}

// checkRoutePatch: a MERGE into a named gateway route, enabling the filter there.
func checkRoutePatch(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch, out *istioFilter, ps *problems) {
	name := p.GetMatch().GetRouteConfiguration().GetVhost().GetRoute().GetName()
	if name == "" {
		ps.addf("istio: the HTTP_ROUTE patch must name the route it enables the filter on")
	}
	if op := p.GetPatch().GetOperation(); op != networkingv1alpha3.EnvoyFilter_Patch_MERGE {
		ps.addf("istio: the HTTP_ROUTE patch operation is %s, want MERGE", op)
	}
	var r routev3.Route
	if err := patchValue(p, &r); err != nil {
		ps.addf("istio: the HTTP_ROUTE patch value is not an Envoy route: %v", err)
		return
	}
	for filter, cfg := range r.GetTypedPerFilterConfig() {
		var fc routev3.FilterConfig
		if err := cfg.UnmarshalTo(&fc); err != nil {
			ps.addf("istio: the HTTP_ROUTE patch's config for %s is not an envoy.config.route.v3.FilterConfig: %v", filter, err)
			continue
		}
		if err := validateTree(&fc); err != nil {
			ps.addf("istio: Envoy would reject the route's filter config: %v", err)
		}
		if filter != out.name {
			ps.addf("istio: the HTTP_ROUTE patch configures filter %q; the inserted filter is %q", filter, out.name)
		}
		out.enables[name] = !fc.GetDisabled()
	}
}

func checkEnvoyFilter(t *testing.T, j []byte) error {
	var ps problems
	ef, _ := readEnvoyFilter(t, j, &ps)
	if ef != nil && (ef.disabled || len(ef.enables) > 0) {
		ps.addf("istio: envoyfilter.yaml runs the filter on every route; the scoped variant is istio/scoped")
	}
	return ps.err()
}

// checkScopedIstio checks scoped/envoyfilter.yaml with the VirtualService whose routes it
// enables the filter on, as checkScoping checks envoy.yaml's routes.
func checkScopedIstio(t *testing.T, efJSON, vsJSON []byte) error {
	var ps problems
	ef, run := readEnvoyFilter(t, efJSON, &ps)
	if ef == nil || run.config == nil {
		return ps.err()
	}
	if !ef.disabled {
		ps.addf("istio: the Wasm filter is not disabled: the VM runs on every request, not only on the routes that enable it")
	}
	apiVersion, kind, spec, err := istioResource(vsJSON)
	if err != nil {
		return errors.Join(append(ps, err)...)
	}
	if !strings.HasPrefix(apiVersion, "networking.istio.io/") || kind != "VirtualService" {
		ps.addf("istio: %s %s, want a networking.istio.io VirtualService", apiVersion, kind)
	}
	var vs networkingv1alpha3.VirtualService
	if err := unmarshalStrict(spec, &vs); err != nil {
		return errors.Join(append(ps, fmt.Errorf("istio: not a valid VirtualService spec: %w", err))...)
	}
	if len(vs.GetGateways()) == 0 {
		ps.addf("istio: the VirtualService is bound to no gateway")
	}
	defined := map[string]bool{}
	var routes []scopedRoute
	for i, h := range vs.GetHttp() {
		defined[h.GetName()] = true
		sr := scopedRoute{name: h.GetName(), removes: h.GetHeaders().GetRequest().GetRemove(), filter: ef.enables[h.GetName()] || !ef.disabled}
		if sr.name == "" {
			sr.name = fmt.Sprint(i)
		}
		sr.matches = istioPathMatch(&sr, h.GetMatch(), &ps)
		routes = append(routes, sr)
	}
	for name := range ef.enables {
		if !defined[name] {
			ps.addf("istio: the EnvoyFilter enables the filter on route %q, which the VirtualService does not define", name)
		}
	}
	checkScoping(routes, run.config, &ps)
	return ps.err()
}

// istioPathMatch is what Istio makes of an HTTP route's uri matches: any of them (none: every
// path). Matches on more than the URI would match less than the path says.
func istioPathMatch(sr *scopedRoute, ms []*networkingv1alpha3.HTTPMatchRequest, ps *problems) func(string) bool {
	if len(ms) == 0 {
		return func(string) bool { return true }
	}
	var any []func(string) bool
	for _, m := range ms {
		if len(m.GetHeaders()) > 0 || len(m.GetQueryParams()) > 0 || m.GetMethod() != nil || m.GetAuthority() != nil || m.GetPort() != 0 {
			ps.addf("istio: %s matches on more than the URI", routeName(sr))
		}
		fold := m.GetIgnoreUriCase()
		switch u := m.GetUri().GetMatchType().(type) {
		case *networkingv1alpha3.StringMatch_Exact:
			any = append(any, func(p string) bool { return p == u.Exact || fold && strings.EqualFold(p, u.Exact) })
		case *networkingv1alpha3.StringMatch_Prefix:
			any = append(any, func(p string) bool {
				return len(p) >= len(u.Prefix) && (p[:len(u.Prefix)] == u.Prefix || fold && strings.EqualFold(p[:len(u.Prefix)], u.Prefix))
			})
		case *networkingv1alpha3.StringMatch_Regex:
			re, err := regexp.Compile(`^(?:` + u.Regex + `)$`)
			if err != nil {
				ps.addf("istio: %s: %v", routeName(sr), err)
				continue
			}
			any = append(any, re.MatchString)
		default:
			ps.addf("istio: %s: uri match %T is not checked here", routeName(sr), m.GetUri().GetMatchType())
		}
	}
	return func(p string) bool {
		for _, f := range any {
			if f(p) {
				return true
			}
		}
		return false
	}
}

func TestIstioScoped(t *testing.T) {
	if err := checkScopedIstio(t, readJSON(t, "istio/scoped/envoyfilter.yaml"), readJSON(t, "istio/scoped/virtualservice.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestIstioScopedChecksCanFail(t *testing.T) {
	vsRoute := func(i int) []any { return []any{"spec", "http", i} }
	cases := []struct {
		name   string
		file   string // "ef" or "vs"
		mutate func(*testing.T, map[string]any)
		want   string
	}{
		{"filter not disabled", "ef", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, "spec", "configPatches", 0, "patch", "value"), "disabled")
		}, "the Wasm filter is not disabled"},
		{"route patch names another route", "ef", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 2, "match", "routeConfiguration", "vhost", "route")["name"] = "verify"
		}, `route "verify", which the VirtualService does not define`},
		{"route patch for another filter", "ef", func(t *testing.T, m map[string]any) {
			tpfc := obj(t, m, "spec", "configPatches", 2, "patch", "value", "typed_per_filter_config")
			tpfc["envoy.filters.http.wasm"] = tpfc["passwordless_verify"]
			delete(tpfc, "passwordless_verify")
		}, `configures filter "envoy.filters.http.wasm"`},
		{"route patch not a FilterConfig", "ef", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 2, "patch", "value", "typed_per_filter_config", "passwordless_verify")["@type"] =
				"type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
		}, "is not an envoy.config.route.v3.FilterConfig"},
		{"underscores allowed", "ef", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 1, "patch", "value", "typed_config", "common_http_protocol_options")["headers_with_underscores_action"] = "ALLOW"
		}, "want DROP_HEADER"},
		{"route renamed", "vs", func(t *testing.T, m map[string]any) {
			obj(t, m, vsRoute(0)...)["name"] = "verify"
		}, `does not run the filter on /passwordless/verify`},
		{"case-sensitive regex", "vs", func(t *testing.T, m map[string]any) {
			u := obj(t, m, append(vsRoute(0), "match", 0, "uri")...)
			u["regex"] = strings.TrimPrefix(u["regex"].(string), "(?i)")
		}, "does not run the filter on /PASSWORDLESS/VERIFY"},
		{"prefix route over the folder", "vs", func(t *testing.T, m map[string]any) {
			obj(t, m, append(vsRoute(0), "match", 0)...)["uri"] = map[string]any{"prefix": "/passwordless/"}
		}, "runs the filter on /passwordless/verify/x"},
		{"removal list misses a spelling", "vs", func(t *testing.T, m map[string]any) {
			r := obj(t, m, append(vsRoute(1), "headers", "request")...)
			l := r["remove"].([]any)
			r["remove"] = l[1:]
		}, "want the identity headers and their underscore spellings"},
		{"removal on the filter's route", "vs", func(t *testing.T, m map[string]any) {
			obj(t, m, vsRoute(0)...)["headers"] = map[string]any{"request": map[string]any{"remove": []any{"x-passwordless-tenant"}}}
		}, "removes identity header x-passwordless-tenant where the filter runs"},
		{"matches on a header", "vs", func(t *testing.T, m map[string]any) {
			obj(t, m, append(vsRoute(0), "match", 0)...)["headers"] = map[string]any{"x-tenant-id": map[string]any{"exact": "acme"}}
		}, "matches on more than the URI"},
		{"Istio schema", "vs", func(t *testing.T, m map[string]any) {
			obj(t, m, vsRoute(0)...)["routes"] = obj(t, m, vsRoute(0)...)["route"]
		}, "not a valid VirtualService spec"},
	}
	bases := map[string][]byte{"ef": readJSON(t, "istio/scoped/envoyfilter.yaml"), "vs": readJSON(t, "istio/scoped/virtualservice.yaml")}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeTree(t, bases[tc.file])
			tc.mutate(t, m)
			files := map[string][]byte{"ef": bases["ef"], "vs": bases["vs"]}
			files[tc.file] = encodeTree(t, m)
			wantProblem(t, checkScopedIstio(t, files["ef"], files["vs"]), tc.want)
		})
	}
}
