package main

import (
	"encoding/json"
	"errors"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/passwordless-verify/filter/e2e/authzpeer"
	"github.com/passwordless-verify/filter/e2e/bench"
	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// variant is one Envoy configuration measured. Every variant gets its routes and HTTP filters
// from here, whatever envoy/local.yaml holds, so the figures keep their meaning.
type variant struct {
	name string
	wasm string // "" is no Wasm filter
	// scoped: the filter is in the chain with disabled: true and enabled, with a
	// typed_per_filter_config of envoy.config.route.v3.FilterConfig, only on the routes of its
	// paths; the other routes remove the identity headers themselves. Unscoped, the filter
	// runs on every request, as Istio's WasmPlugin installs it.
	scoped bool
	// peer: Envoy's ext_authz filter, scoped the same way, asks authzpeer's service (its own
	// process) about the verify route, with the whole body; when the service allows, the
	// route's direct_response answers 200 {}.
	peer bool
	// config is the plugin configuration; "" is bench.Config.
	config string
}

const (
	wasmFilter    = "envoy.filters.http.wasm"
	extAuthz      = "envoy.filters.http.ext_authz"
	filterConfig  = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
	authzCluster  = "authz"
	defaultRedir  = "/passwordless/verify_redirect" // SPEC 2's default verify_redirect_path
	unknownPath   = `{"error":"invalid_request","error_description":"unknown path"}`
	successAnswer = "{}"
)

// benchConfig is what the Envoy configurations read from bench.Config.
type benchConfig struct {
	VerifyPath      string `json:"verify_path"`
	MaxRequestBytes int    `json:"max_request_bytes"`
	OnSuccess       struct {
		PassHeaders     []string          `json:"pass_headers"`
		IdentityHeaders map[string]string `json:"identity_headers"`
	} `json:"on_success"`
}

func readBenchConfig() (benchConfig, error) {
	var c benchConfig
	err := json.Unmarshal([]byte(bench.Config), &c)
	return c, err
}

// edit turns envoy/local.yaml into the variant's configuration; authz is the peer service's
// address (peer only).
func edit(v variant, authz string) func(*envoyrun.Bootstrap) error {
	return func(b *envoyrun.Bootstrap) error {
		cfg, err := readBenchConfig()
		if err != nil {
			return err
		}
		hcm, err := b.HCM()
		if err != nil {
			return err
		}
		delete(hcm, "access_log")
		// SPEC 9: a header with _ in its name is dropped, which covers every mixed spelling of
		// an identity header (x-passwordless_user-id) that no removal list can enumerate.
		opts, _ := hcm["common_http_protocol_options"].(map[string]any)
		if opts == nil {
			opts = map[string]any{}
			hcm["common_http_protocol_options"] = opts
		}
		opts["headers_with_underscores_action"] = "DROP_HEADER"
		filters, _ := hcm["http_filters"].([]any)
		var chain []any
		for _, f := range filters {
			f, _ := f.(map[string]any)
			switch {
			case f["name"] == wasmFilter && v.wasm == "":
				continue
			case f["name"] == wasmFilter:
				f["disabled"] = v.scoped
			case f["name"] == "envoy.filters.http.router" && v.peer:
				chain = append(chain, extAuthzFilter(cfg))
			}
			chain = append(chain, f)
		}
		hcm["http_filters"] = chain
		routes := []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": "upstream"}}}
		if v.scoped || v.peer {
			routes = scopedRoutes(v, cfg)
		}
		rc, _ := hcm["route_config"].(map[string]any)
		vhosts, _ := rc["virtual_hosts"].([]any)
		if len(vhosts) != 1 {
			return errors.New("the bootstrap's route_config has not one virtual host")
		}
		vh, ok := vhosts[0].(map[string]any)
		if !ok {
			return errors.New("the bootstrap's virtual host is not an object")
		}
		vh["routes"] = routes
		if v.peer {
			return addCluster(b, authzCluster, authz)
		}
		return nil
	}
}

// scopedRoutes: the verify path, then its lookalikes and the redirect path (case-insensitive,
// with a trailing / or ;params), run the filter; every other path goes upstream without it,
// and without client-supplied identity headers (SPEC 9), in both spellings. ours answers all
// of them itself; with ext_authz the verify route is answered by Envoy once the service
// allows, and the lookalikes by Envoy at once.
func scopedRoutes(v variant, cfg benchConfig) []any {
	enable := func(name string) map[string]any {
		return map[string]any{name: map[string]any{"@type": filterConfig, "config": map[string]any{}}}
	}
	verify := map[string]any{"match": map[string]any{"path": cfg.VerifyPath}}
	lookalike := map[string]any{"match": map[string]any{"safe_regex": map[string]any{"regex": lookalikeRegex(cfg.VerifyPath, defaultRedir)}}}
	if v.peer {
		verify["direct_response"] = map[string]any{"status": 200, "body": map[string]any{"inline_string": successAnswer}}
		verify["response_headers_to_add"] = []any{map[string]any{"header": map[string]any{"key": "content-type", "value": "application/json"}}}
		verify["typed_per_filter_config"] = enable(extAuthz)
		lookalike["direct_response"] = map[string]any{"status": 404, "body": map[string]any{"inline_string": unknownPath}}
		lookalike["response_headers_to_add"] = verify["response_headers_to_add"]
	} else {
		for _, r := range []map[string]any{verify, lookalike} {
			r["route"] = map[string]any{"cluster": "upstream"}
			r["typed_per_filter_config"] = enable(wasmFilter)
		}
	}
	var remove []any
	for _, h := range identityHeaderSpellings(cfg) {
		remove = append(remove, h)
	}
	return []any{verify, lookalike, map[string]any{
		"match":                     map[string]any{"prefix": "/"},
		"route":                     map[string]any{"cluster": "upstream"},
		"request_headers_to_remove": remove,
	}}
}

// lookalikeRegex matches the filter's paths in any case, with one trailing / or ;params.
func lookalikeRegex(paths ...string) string {
	var alt []string
	for _, p := range paths {
		alt = append(alt, regexp.QuoteMeta(p))
	}
	return "(?i)(" + strings.Join(alt, "|") + ")/?(;[^/]*)?"
}

// identityHeaderSpellings are the identity headers with - and with _ (SPEC 9), sorted.
func identityHeaderSpellings(cfg benchConfig) []string {
	var out []string
	for h := range cfg.OnSuccess.IdentityHeaders {
		out = append(out, h, strings.ReplaceAll(h, "-", "_"))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// extAuthzFilter is the ext_authz filter as a user would set it up for the verify route:
// the whole body (up to max_request_bytes; larger is 413 from Envoy), the headers the checks
// read, the client address in authzpeer.PeerIPHeader, fail closed, and the store's
// pass_headers copied to the client on success.
func extAuthzFilter(cfg benchConfig) map[string]any {
	exact := func(names ...string) map[string]any {
		var p []any
		for _, n := range names {
			p = append(p, map[string]any{"exact": n})
		}
		return map[string]any{"patterns": p}
	}
	return map[string]any{
		"name":     extAuthz,
		"disabled": true,
		"typed_config": map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
			"transport_api_version": "V3",
			"failure_mode_allow":    false,
			"status_on_error":       map[string]any{"code": 500},
			"with_request_body":     map[string]any{"max_request_bytes": cfg.MaxRequestBytes, "allow_partial_message": false},
			"allowed_headers":       exact("x-tenant-id", "content-type", "x-request-id"),
			"http_service": map[string]any{
				"server_uri": map[string]any{"uri": "http://" + authzCluster, "cluster": authzCluster, "timeout": "2s"},
				"authorization_request": map[string]any{"headers_to_add": []any{
					map[string]any{"key": authzpeer.PeerIPHeader, "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
				}},
				"authorization_response": map[string]any{"allowed_client_headers_on_success": exact(cfg.OnSuccess.PassHeaders...)},
			},
		},
	}
}

// addCluster adds a static cluster with one endpoint.
func addCluster(b *envoyrun.Bootstrap, name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	sr, _ := b.Root()["static_resources"].(map[string]any)
	clusters, _ := sr["clusters"].([]any)
	endpoint := map[string]any{"endpoint": map[string]any{"address": map[string]any{
		"socket_address": map[string]any{"address": host, "port_value": p}}}}
	sr["clusters"] = append(clusters, map[string]any{
		"name": name, "type": "STATIC", "connect_timeout": "1s",
		"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{
			map[string]any{"lb_endpoints": []any{endpoint}}}},
	})
	return nil
}
