package envoy_test

// The filter runs only on the routes that need it (issue 18): the shipped route tables are
// checked against the plugin configuration they carry, so the paths, the lookalikes of SPEC 3
// and the identity headers Envoy removes elsewhere (SPEC 9) cannot drift apart.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/passwordless-verify/filter/e2e/pathforms"
)

// accessLogRecord is what an access-log format prints the filter's record with (SPEC 10;
// checked in Envoy 1.40: PLAIN prints the JSON as set, without it Envoy prints a
// google.protobuf.BytesValue in base64).
const accessLogRecord = "%FILTER_STATE(wasm.passwordless_verify:PLAIN)%"

// scopedRoute is one route as far as scoping goes, whatever the file spells it in.
type scopedRoute struct {
	name    string
	matches func(path string) bool
	filter  bool     // the Wasm filter runs on it
	removes []string // request headers Envoy removes before the upstream
}

// filterPaths are the paths the plugin configuration makes the filter's (SPEC 2 defaults).
func filterPaths(cfg []byte) ([]string, error) {
	c := struct {
		Verify   string `json:"verify_path"`
		Redirect string `json:"verify_redirect_path"`
	}{"/passwordless/verify", "/passwordless/verify_redirect"}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, err
	}
	return []string{c.Verify, c.Redirect}, nil
}

// identityRemovals is what Envoy must remove where the filter does not run: every identity
// header of the plugin configuration, in every spelling with "_" for "-" (SPEC 9), sorted.
func identityRemovals(cfg []byte) ([]string, error) {
	var c struct {
		OnSuccess struct {
			IdentityHeaders map[string]string `json:"identity_headers"`
		} `json:"on_success"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, err
	}
	var out []string
	for name := range c.OnSuccess.IdentityHeaders {
		out = append(out, underscoreSpellings(strings.ToLower(name))...)
	}
	slices.Sort(out)
	return out, nil
}

// underscoreSpellings: name with each "-" either kept or written "_".
func underscoreSpellings(name string) []string {
	out := []string{""}
	for _, r := range name {
		var next []string
		for _, prefix := range out {
			next = append(next, prefix+string(r))
			if r == '-' {
				next = append(next, prefix+"_")
			}
		}
		out = next
	}
	return out
}

// firstRoute is the route Envoy picks for path: the first that matches.
func firstRoute(routes []scopedRoute, path string) *scopedRoute {
	for i := range routes {
		if routes[i].matches(path) {
			return &routes[i]
		}
	}
	return nil
}

// checkScoping checks routes against the plugin configuration cfg: the filter runs on its
// paths, on every lookalike of SPEC 3 and on nothing plainly else; its routes leave identity
// headers to it, and every other route has Envoy remove them.
func checkScoping(routes []scopedRoute, cfg []byte, ps *problems) {
	paths, err := filterPaths(cfg)
	if err != nil {
		ps.addf("routes: plugin configuration: %v", err)
		return
	}
	removals, err := identityRemovals(cfg)
	if err != nil {
		ps.addf("routes: plugin configuration: %v", err)
		return
	}
	owned := map[string]bool{}
	for _, p := range paths {
		owned[p] = true
		for _, l := range pathforms.Routed(p) {
			owned[l] = true
		}
		for _, f := range pathforms.Normalized(p) {
			owned[f.Normal] = true
		}
	}
	for _, p := range slices.Sorted(mapKeys(owned)) {
		if r := firstRoute(routes, p); r == nil || !r.filter {
			ps.addf("routes: %s does not run the filter on %s (SPEC 3: it answers there for every method)", routeName(r), p)
		}
	}
	for _, p := range paths {
		for _, o := range pathforms.Others(p) {
			if owned[o] {
				continue
			}
			if r := firstRoute(routes, o); r == nil {
				ps.addf("routes: no route for %s", o)
			} else if r.filter {
				ps.addf("routes: %s runs the filter on %s, which is neither its path nor a lookalike (every such request pays for the VM)", routeName(r), o)
			}
		}
	}
	for _, r := range routes {
		got := slices.Sorted(slices.Values(lower(r.removes)))
		switch {
		case r.filter:
			for _, h := range got {
				if slices.Contains(removals, h) {
					ps.addf("routes: %s removes identity header %s where the filter runs: forward mode sets it there", routeName(&r), h)
				}
			}
		case !slices.Equal(got, removals):
			ps.addf("routes: %s has request_headers_to_remove %v, want the identity headers and their underscore spellings %v", routeName(&r), got, removals)
		}
	}
}

func routeName(r *scopedRoute) string {
	if r == nil {
		return "no route"
	}
	return fmt.Sprintf("route %q", r.name)
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// envoyRoutes reads a virtual host's routes; filterName is the Wasm filter's name in the HTTP
// filter chain and disabled whether it is disabled there (else it runs on every route).
func envoyRoutes(vh *routev3.VirtualHost, filterName string, disabled bool, ps *problems) []scopedRoute {
	var out []scopedRoute
	for i, r := range vh.GetRoutes() {
		sr := scopedRoute{name: r.GetName(), removes: r.GetRequestHeadersToRemove(), filter: !disabled}
		if sr.name == "" {
			sr.name = fmt.Sprint(i)
		}
		m, err := envoyPathMatch(r.GetMatch())
		if err != nil {
			ps.addf("routes: %s: %v", routeName(&sr), err)
			m = func(string) bool { return false }
		}
		sr.matches = m
		if a := r.GetTypedPerFilterConfig()[filterName]; a != nil {
			var fc routev3.FilterConfig
			if err := a.UnmarshalTo(&fc); err != nil {
				ps.addf("routes: %s: the per-route config of %s is not an envoy.config.route.v3.FilterConfig: %v", routeName(&sr), filterName, err)
			}
			sr.filter = !fc.GetDisabled()
		}
		out = append(out, sr)
	}
	return out
}

// envoyPathMatch is Envoy's path matching for the kinds the shipped files use. A route with
// header or query matchers would match less than its path says; none is expected.
func envoyPathMatch(m *routev3.RouteMatch) (func(string) bool, error) {
	if len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 || m.GetRuntimeFraction() != nil {
		return nil, fmt.Errorf("matches on more than the path: %v", m)
	}
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	eq := func(a, b string) bool { return a == b || fold && strings.EqualFold(a, b) }
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return func(p string) bool { return len(p) >= len(ps.Prefix) && eq(p[:len(ps.Prefix)], ps.Prefix) }, nil
	case *routev3.RouteMatch_Path:
		return func(p string) bool { return eq(p, ps.Path) }, nil
	case *routev3.RouteMatch_SafeRegex:
		// RE2 syntax, which Go's regexp implements; Envoy matches the whole path.
		re, err := regexp.Compile(`^(?:` + ps.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("path match %T is not checked here", m.GetPathSpecifier())
}

// checkHardening checks the HTTP connection manager settings SPEC 3, 9 and 10 ask of every
// shipped configuration.
func checkHardening(where string, hcm *hcmv3.HttpConnectionManager, ps *problems) {
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() ||
		hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT {
		ps.addf("%s: want normalize_path, merge_slashes and path_with_escaped_slashes_action UNESCAPE_AND_REDIRECT (SPEC 3): //passwordless/verify would pass the filter", where)
	}
	if a := hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); a.String() != "DROP_HEADER" {
		ps.addf("%s: headers_with_underscores_action is %s, want DROP_HEADER (SPEC 9): a WSGI upstream reads x_passwordless_user_id as the identity header", where, a)
	}
	printed := false
	for _, al := range hcm.GetAccessLog() {
		var out streamv3.StdoutAccessLog
		if al.GetTypedConfig().MessageIs(&out) && al.GetTypedConfig().UnmarshalTo(&out) == nil &&
			strings.Contains(out.GetLogFormat().GetTextFormatSource().GetInlineString(), accessLogRecord) {
			printed = true
		}
	}
	if !printed {
		ps.addf("%s: no stdout access log prints the filter's record %s (SPEC 10)", where, accessLogRecord)
	}
}
