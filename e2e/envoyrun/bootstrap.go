// Package envoyrun runs the real Envoy with the filter, on loopback: it finds the binary that
// envoy/install.sh installed, rewrites envoy/local.yaml's addresses (and, if asked, the plugin
// configuration) and starts Envoy, waiting until its listener is up. make run and the Envoy
// e2e tests both start Envoy through it.
package envoyrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"

	"sigs.k8s.io/yaml"
)

// Bootstrap is an Envoy bootstrap as a JSON tree, with setters for the few places the filter's
// local runs change. The shape is that of envoy/local.yaml: one listener whose HTTP connection
// manager runs the wasm filter, and the clusters "userstore" and "upstream".
type Bootstrap struct{ root map[string]any }

// ParseBootstrap reads a YAML (or JSON) bootstrap.
func ParseBootstrap(y []byte) (*Bootstrap, error) {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := json.Unmarshal(j, &root); err != nil {
		return nil, err
	}
	if root == nil {
		return nil, errors.New("bootstrap: empty")
	}
	return &Bootstrap{root: root}, nil
}

// JSON is the bootstrap to hand to Envoy (JSON is YAML, so a .yaml file may hold it).
func (b *Bootstrap) JSON() ([]byte, error) { return json.MarshalIndent(b.root, "", "  ") }

// Root is the tree itself, for edits the setters do not cover.
func (b *Bootstrap) Root() map[string]any { return b.root }

// Listener is the one listener's config.
func (b *Bootstrap) Listener() (map[string]any, error) {
	return objectAt(b.root, "static_resources", "listeners", 0)
}

// HCM is the listener's HTTP connection manager config.
func (b *Bootstrap) HCM() (map[string]any, error) {
	l, err := b.Listener()
	if err != nil {
		return nil, err
	}
	return objectAt(l, "filter_chains", 0, "filters", 0, "typed_config")
}

// Wasm is the wasm filter's PluginConfig (the "config" of envoy.filters.http.wasm).
func (b *Bootstrap) Wasm() (map[string]any, error) {
	hcm, err := b.HCM()
	if err != nil {
		return nil, err
	}
	filters, _ := hcm["http_filters"].([]any)
	for _, f := range filters {
		if f, ok := f.(map[string]any); ok && f["name"] == "envoy.filters.http.wasm" {
			return objectAt(f, "typed_config", "config")
		}
	}
	return nil, errors.New("bootstrap: no envoy.filters.http.wasm filter")
}

// SetWasmFile points the VM at the module.
func (b *Bootstrap) SetWasmFile(path string) error {
	w, err := b.Wasm()
	if err != nil {
		return err
	}
	local, err := objectAt(w, "vm_config", "code", "local")
	if err != nil {
		return err
	}
	local["filename"] = path
	return nil
}

// PluginConfig is the plugin configuration the bootstrap carries.
func (b *Bootstrap) PluginConfig() ([]byte, error) {
	w, err := b.Wasm()
	if err != nil {
		return nil, err
	}
	c, err := objectAt(w, "configuration")
	if err != nil {
		return nil, err
	}
	s, ok := c["value"].(string)
	if !ok {
		return nil, errors.New("bootstrap: plugin configuration is not a string value")
	}
	return []byte(s), nil
}

// SetPluginConfig replaces the plugin configuration, byte for byte.
func (b *Bootstrap) SetPluginConfig(cfg []byte) error {
	w, err := b.Wasm()
	if err != nil {
		return err
	}
	c, err := objectAt(w, "configuration")
	if err != nil {
		return err
	}
	c["value"] = string(cfg)
	return nil
}

// SetListen sets the listener's address; port 0 lets Envoy pick one.
func (b *Bootstrap) SetListen(addr string) error {
	return setAddress(b.root, addr, "static_resources", "listeners", 0, "address", "socket_address")
}

// SetAdmin sets the admin address; port 0 lets Envoy pick one.
func (b *Bootstrap) SetAdmin(addr string) error {
	return setAddress(b.root, addr, "admin", "address", "socket_address")
}

// SetCluster points a cluster's one endpoint at addr.
func (b *Bootstrap) SetCluster(name, addr string) error {
	c, err := b.cluster(name)
	if err != nil {
		return err
	}
	return setClusterAddress(c, addr)
}

// AddCluster adds a cluster name with one endpoint, addr, and the settings of cluster like.
func (b *Bootstrap) AddCluster(name, like, addr string) error {
	model, err := b.cluster(like)
	if err != nil {
		return err
	}
	if _, err := b.cluster(name); err == nil {
		return fmt.Errorf("bootstrap: cluster %q already there", name)
	}
	j, err := json.Marshal(model)
	if err != nil {
		return err
	}
	var c map[string]any
	if err := json.Unmarshal(j, &c); err != nil {
		return err
	}
	c["name"] = name
	la, err := objectAt(c, "load_assignment")
	if err != nil {
		return err
	}
	la["cluster_name"] = name
	if err := setClusterAddress(c, addr); err != nil {
		return err
	}
	sr, err := objectAt(b.root, "static_resources")
	if err != nil {
		return err
	}
	clusters, err := listAt(sr, "clusters")
	if err != nil {
		return err
	}
	sr["clusters"] = append(clusters, c)
	return nil
}

func (b *Bootstrap) cluster(name string) (map[string]any, error) {
	clusters, err := listAt(b.root, "static_resources", "clusters")
	if err != nil {
		return nil, err
	}
	for _, c := range clusters {
		if c, ok := c.(map[string]any); ok && c["name"] == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("bootstrap: no cluster %q", name)
}

func setClusterAddress(c map[string]any, addr string) error {
	return setAddress(c, addr, "load_assignment", "endpoints", 0, "lb_endpoints", 0, "endpoint", "address", "socket_address")
}

func setAddress(root map[string]any, addr string, path ...any) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("port of %q: %w", addr, err)
	}
	sa, err := objectAt(root, path...)
	if err != nil {
		return err
	}
	sa["address"] = host
	sa["port_value"] = p
	return nil
}

func listAt(root map[string]any, path ...any) ([]any, error) {
	v, err := at(root, path...)
	if err != nil {
		return nil, err
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("bootstrap: %v is not a list", path)
	}
	return l, nil
}

func objectAt(root map[string]any, path ...any) (map[string]any, error) {
	v, err := at(root, path...)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("bootstrap: %v is not an object", path)
	}
	return m, nil
}

// at walks object keys (strings) and list indexes (ints).
func at(root map[string]any, path ...any) (any, error) {
	var cur any = root
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok || m[k] == nil {
				return nil, fmt.Errorf("bootstrap: no %v", path[:i+1])
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil, fmt.Errorf("bootstrap: no %v", path[:i+1])
			}
			cur = l[k]
		}
	}
	return cur, nil
}
