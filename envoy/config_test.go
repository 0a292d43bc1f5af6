// Package envoy_test checks the shipped deployment files: envoy.yaml against Envoy 1.35's own
// config schema (go-control-plane: protojson, then the protoc-gen-validate rules Envoy
// enforces), docker-compose.yaml with the Compose specification's loader and JSON schema, and
// the Istio resources against Istio's API types. There is no Envoy binary and no Docker engine
// on the development or CI machines, so these checks are what stands between a typo and a
// stack that does not start.
//
// Every plugin configuration embedded in those files is also loaded by the built plugin
// (build/plugin.wasm, in the e2e/wasmhost proxy-wasm host, with the file's Wasm settings) and
// must answer a valid verify request, through the cluster the file names, with 200.
//
// Each check is shown to fail: the mutation tables break one thing in a copy of the file and
// expect the check to name it.
package envoy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/passwordless-verify/filter/e2e/wasmhost"

	// Every typed_config in the shipped files must resolve, as Envoy resolves it: register the
	// extensions they use (the ones imported above register themselves).
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
)

const (
	wasmRuntimeV8 = "envoy.wasm.runtime.v8"
	hcmName       = "envoy.filters.network.http_connection_manager"
	routerName    = "envoy.filters.http.router"
	// localWasmFile is where envoy.yaml reads the module and docker-compose.yaml mounts it.
	localWasmFile = "/etc/envoy/plugin.wasm"
	// verifyBody is a valid verify request for the example configuration of SPEC section 2.
	verifyBody = `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`
)

// --- shared helpers ---

// readJSON reads a YAML file of this folder and returns it as JSON.
func readJSON(t *testing.T, name string) []byte {
	t.Helper()
	y, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return j
}

// decodeTree decodes JSON into generic maps and slices, keeping numbers as written.
func decodeTree(t *testing.T, j []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeTree(t *testing.T, m any) []byte {
	t.Helper()
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// at walks a decoded tree: string steps index objects, int steps index arrays.
func at(t *testing.T, root any, path ...any) any {
	t.Helper()
	cur := root
	for i, step := range path {
		switch s := step.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok || m[s] == nil {
				t.Fatalf("no %q at %v", s, path[:i])
			}
			cur = m[s]
		case int:
			l, ok := cur.([]any)
			if !ok || s >= len(l) {
				t.Fatalf("no [%d] at %v", s, path[:i])
			}
			cur = l[s]
		}
	}
	return cur
}

func obj(t *testing.T, root any, path ...any) map[string]any {
	t.Helper()
	m, ok := at(t, root, path...).(map[string]any)
	if !ok {
		t.Fatalf("%v is not an object", path)
	}
	return m
}

// editJSONString decodes the JSON document held in m[key] as a string, lets edit change it,
// and stores it back.
func editJSONString(t *testing.T, m map[string]any, key string, edit func(cfg map[string]any)) {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("%q is not a string", key)
	}
	cfg := decodeTree(t, []byte(s))
	edit(cfg)
	m[key] = string(encodeTree(t, cfg))
}

// problems collects every failed assertion of one check, so one run names them all.
type problems []error

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }
func (p problems) err() error                       { return errors.Join(p...) }

// wantProblem asserts that a check of a broken copy failed, naming what was broken.
func wantProblem(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the check passed; want a problem mentioning %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("the check failed, but not mentioning %q:\n%v", want, err)
	}
	t.Logf("fails as it should: %v", err)
}

// --- Envoy schema ---

// validateTree runs Envoy's validation rules (protoc-gen-validate) on m and on every message
// packed in an Any inside it, recursively. The generated ValidateAll stops at an Any; Envoy
// does not, so neither may this check.
func validateTree(m proto.Message) error {
	if fc, ok := m.(*routev3.FilterConfig); ok && proto.Size(fc.GetConfig()) == 0 {
		// config: {} only enables a filter that is disabled by default; Envoy takes it as such.
		return fc.ValidateAll()
	}
	var errs []error
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, err)
		}
	}
	eachAny(m.ProtoReflect(), func(a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("typed config %s: %w", a.GetTypeUrl(), err))
			return
		}
		if err := validateTree(inner); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.GetTypeUrl(), err))
		}
	})
	return errors.Join(errs...)
}

// eachAny calls f for every Any directly inside m (not inside those Anys).
func eachAny(m protoreflect.Message, f func(*anypb.Any)) {
	visit := func(v protoreflect.Message) {
		if a, ok := v.Interface().(*anypb.Any); ok {
			f(a)
			return
		}
		eachAny(v, f)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				visit(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				visit(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			visit(v.Message())
		}
		return true
	})
}

// unmarshalStrict is protojson as Envoy reads a config: unknown fields are errors, and every
// Any must name a registered type.
func unmarshalStrict(j []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(j, m)
}

// --- the plugin, with a file's Wasm settings ---

var (
	moduleOnce sync.Once
	module     *wasmhost.Module
	moduleErr  error
)

func pluginModule(t *testing.T) *wasmhost.Module {
	t.Helper()
	moduleOnce.Do(func() {
		wasm, err := os.ReadFile(filepath.Join("..", "build", "plugin.wasm"))
		if err != nil {
			moduleErr = fmt.Errorf("%w (run make build first)", err)
			return
		}
		module, moduleErr = wasmhost.Compile(context.Background(), wasm)
	})
	if moduleErr != nil {
		t.Fatalf("plugin.wasm: %v", moduleErr)
	}
	return module
}

// pluginRun is what a deployment file gives the plugin's VM.
type pluginRun struct {
	config             []byte
	rootID, vmID       string
	allowStopIteration bool
	clusters           []string // the Envoy clusters that exist
}

// verify starts the plugin with these settings, as Envoy would, and sends it one valid verify
// request. Every cluster in p.clusters answers as a user store that knows the user.
func (p pluginRun) verify(t *testing.T) (*wasmhost.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store := wasmhost.ClusterFunc(func(context.Context, *wasmhost.CalloutRequest) (*wasmhost.CalloutResponse, error) {
		return &wasmhost.CalloutResponse{
			Headers: [][2]string{{":status", "200"}, {"content-type", "application/json"}},
			Body:    []byte(`{"user_id":"u1"}`),
		}, nil
	})
	clusters := map[string]wasmhost.Cluster{}
	for _, c := range p.clusters {
		clusters[c] = store
	}
	vm, err := pluginModule(t).NewVM(ctx, wasmhost.Config{
		PluginConfig:                   p.config,
		RootID:                         p.rootID,
		VMID:                           p.vmID,
		Clusters:                       clusters,
		DisallowOnHeadersStopIteration: !p.allowStopIteration,
	})
	if err != nil {
		return nil, fmt.Errorf("the plugin refused its configuration: %w", err)
	}
	defer func() { _ = vm.Close(ctx) }()
	return vm.Do(ctx, wasmhost.Request{
		Method:    "POST",
		Path:      "/passwordless/verify",
		Authority: "login.example.com",
		Headers:   [][2]string{{"x-tenant-id", "acme"}, {"content-type", "application/json"}},
		Body:      []byte(verifyBody),
	})
}

// checkVerifies asserts the plugin, run with p, verifies a valid request through its user
// store cluster and answers 200 itself (respond mode).
func (p pluginRun) checkVerifies(t *testing.T, ps *problems) {
	t.Helper()
	res, err := p.verify(t)
	switch {
	case err != nil:
		ps.addf("%v", err)
	case res.Local == nil || res.Local.Status != 200:
		ps.addf("with these Wasm settings a valid verify request did not get the plugin's 200: %s", res)
	}
}

// userStoreCluster reads user_store.cluster from a plugin configuration.
func userStoreCluster(cfg []byte) (string, error) {
	var c struct {
		UserStore struct {
			Cluster string `json:"cluster"`
		} `json:"user_store"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return "", fmt.Errorf("plugin configuration is not JSON: %w", err)
	}
	return c.UserStore.Cluster, nil
}

// checkWasmFilter checks what the product needs of an Envoy Wasm HTTP filter and returns the
// VM settings it gives the plugin. wantCode is the module's file ("" accepts any absolute path).
func checkWasmFilter(w *wasmfilterv3.Wasm, wantCode string, ps *problems) pluginRun {
	c := w.GetConfig()
	if !c.GetAllowOnHeadersStopIteration().GetValue() {
		ps.addf("wasm: config.allow_on_headers_stop_iteration must be true: the filter pauses on the headers and reads the body")
	}
	if c.GetFailOpen() { //nolint:staticcheck // deprecated for failure_policy, but Envoy still honours it
		ps.addf("wasm: config.fail_open must be false: the filter fails closed")
	}
	if fp := c.GetFailurePolicy(); fp != wasmv3.FailurePolicy_UNSPECIFIED && fp != wasmv3.FailurePolicy_FAIL_CLOSED {
		ps.addf("wasm: config.failure_policy is %s; the filter fails closed (FAIL_CLOSED)", fp)
	}
	if c.GetRootId() == "" {
		ps.addf("wasm: config.root_id is empty")
	}
	vm := c.GetVmConfig()
	if vm.GetRuntime() != wasmRuntimeV8 {
		ps.addf("wasm: vm_config.runtime is %q, want %s", vm.GetRuntime(), wasmRuntimeV8)
	}
	file := vm.GetCode().GetLocal().GetFilename()
	switch {
	case wantCode != "" && file != wantCode:
		ps.addf("wasm: vm_config.code.local.filename is %q, want %s", file, wantCode)
	case !filepath.IsAbs(file):
		ps.addf("wasm: vm_config.code.local.filename %q is not an absolute file path", file)
	}
	run := pluginRun{
		rootID:             c.GetRootId(),
		vmID:               vm.GetVmId(),
		allowStopIteration: c.GetAllowOnHeadersStopIteration().GetValue(),
	}
	var s wrapperspb.StringValue
	if err := c.GetConfiguration().UnmarshalTo(&s); err != nil {
		ps.addf("wasm: configuration must be a google.protobuf.StringValue holding the plugin's JSON: %v", err)
		return run
	}
	run.config = []byte(s.GetValue())
	return run
}

// --- envoy.yaml ---

// envoyFacts is what the Compose file must agree with.
type envoyFacts struct {
	listenerPort uint32
	wasmFile     string
	endpoints    map[string]uint32 // host -> port, over all clusters
}

func checkEnvoy(t *testing.T, j []byte) (*envoyFacts, error) {
	t.Helper()
	var boot bootstrapv3.Bootstrap
	if err := unmarshalStrict(j, &boot); err != nil {
		return nil, fmt.Errorf("not a valid Envoy bootstrap: %w", err)
	}
	if err := validateTree(&boot); err != nil {
		return nil, fmt.Errorf("Envoy would reject the bootstrap: %w", err)
	}
	var ps problems
	facts := &envoyFacts{endpoints: map[string]uint32{}}

	if a := boot.GetAdmin().GetAddress().GetSocketAddress(); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != 9901 {
		ps.addf("admin: listens on %s:%d, want 127.0.0.1:9901 (it has no authentication)", a.GetAddress(), a.GetPortValue())
	}

	clusters := map[string]*clusterv3.Cluster{}
	var clusterNames []string
	for _, c := range boot.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
		clusterNames = append(clusterNames, c.GetName())
		for _, e := range c.GetLoadAssignment().GetEndpoints() {
			for _, lb := range e.GetLbEndpoints() {
				a := lb.GetEndpoint().GetAddress().GetSocketAddress()
				facts.endpoints[a.GetAddress()] = a.GetPortValue()
			}
		}
	}
	for _, want := range []struct {
		name, host string
		port       uint32
	}{{"userstore", "userstore", 8081}, {"upstream", "upstream", 8080}} {
		c := clusters[want.name]
		if c == nil {
			ps.addf("clusters: no cluster %q", want.name)
			continue
		}
		if c.GetType() != clusterv3.Cluster_STRICT_DNS {
			ps.addf("clusters: %s is %s, want STRICT_DNS (Compose service names resolve by DNS)", want.name, c.GetType())
		}
		eps := c.GetLoadAssignment().GetEndpoints()
		if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
			ps.addf("clusters: %s should have exactly one endpoint", want.name)
			continue
		}
		a := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		if a.GetAddress() != want.host || a.GetPortValue() != want.port {
			ps.addf("clusters: %s points at %s:%d, want %s:%d", want.name, a.GetAddress(), a.GetPortValue(), want.host, want.port)
		}
	}

	listeners := boot.GetStaticResources().GetListeners()
	if len(listeners) != 1 {
		return nil, fmt.Errorf("want exactly one listener, have %d", len(listeners))
	}
	la := listeners[0].GetAddress().GetSocketAddress()
	if la.GetAddress() != "0.0.0.0" || la.GetPortValue() != 10000 {
		ps.addf("listener: on %s:%d, want 0.0.0.0:10000", la.GetAddress(), la.GetPortValue())
	}
	facts.listenerPort = la.GetPortValue()

	var hcm *hcmv3.HttpConnectionManager
	for _, fc := range listeners[0].GetFilterChains() {
		for _, f := range fc.GetFilters() {
			var h hcmv3.HttpConnectionManager
			if f.GetTypedConfig().MessageIs(&h) {
				if err := f.GetTypedConfig().UnmarshalTo(&h); err != nil {
					return nil, err
				}
				hcm = &h
			}
		}
	}
	if hcm == nil {
		return nil, errors.Join(append(ps, errors.New("listener: no HTTP connection manager"))...)
	}
	if !hcm.GetUseRemoteAddress().GetValue() {
		ps.addf("http connection manager: use_remote_address must be true at the edge, or clients choose the address attack protection counts by (x-forwarded-for)")
	}
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if c := r.GetRoute().GetCluster(); c != "upstream" {
				ps.addf("routes: %s sends %v to %q, want everything to upstream", vh.GetName(), r.GetMatch(), c)
			}
		}
	}
	vhs := hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhs) != 1 || !slices.Equal(vhs[0].GetDomains(), []string{"*"}) ||
		len(vhs[0].GetRoutes()) == 0 || vhs[0].GetRoutes()[len(vhs[0].GetRoutes())-1].GetMatch().GetPrefix() != "/" {
		ps.addf("routes: want one virtual host for * whose last route matches the prefix /")
	}
	checkHardening("http connection manager", hcm, &ps)

	wasmAt, routerAt := -1, -1
	var wasm wasmfilterv3.Wasm
	var wasmFilter *hcmv3.HttpFilter
	filters := hcm.GetHttpFilters()
	for i, f := range filters {
		switch {
		case f.GetTypedConfig().MessageIs(&wasm):
			if wasmAt >= 0 {
				ps.addf("http filters: more than one Wasm filter")
			}
			wasmAt, wasmFilter = i, f
			if err := f.GetTypedConfig().UnmarshalTo(&wasm); err != nil {
				return nil, err
			}
		case f.GetName() == routerName:
			routerAt = i
		}
	}
	switch {
	case wasmAt < 0:
		ps.addf("http filters: no Wasm filter")
	case routerAt < 0:
		ps.addf("http filters: no router")
	case wasmAt > routerAt:
		ps.addf("http filters: the Wasm filter must come before the router")
	}
	if routerAt >= 0 && routerAt != len(filters)-1 {
		ps.addf("http filters: the router must be the last filter")
	}
	if wasmAt < 0 {
		return nil, ps.err()
	}
	if wasm.GetConfig().GetName() == "" {
		ps.addf("wasm: config.name is empty")
	}
	run := checkWasmFilter(&wasm, localWasmFile, &ps)
	facts.wasmFile = wasm.GetConfig().GetVmConfig().GetCode().GetLocal().GetFilename()
	if run.config != nil {
		cluster, err := userStoreCluster(run.config)
		switch {
		case err != nil:
			ps.addf("wasm: %v", err)
		case clusters[cluster] == nil:
			ps.addf("wasm: the plugin's user_store.cluster %q is not a cluster of this bootstrap", cluster)
		}
		run.clusters = clusterNames
		run.checkVerifies(t, &ps)
		if !wasmFilter.GetDisabled() {
			ps.addf("http filters: the Wasm filter is not disabled: the VM runs on every request, not only on the routes that enable it")
		}
		if len(vhs) == 1 {
			checkScoping(envoyRoutes(vhs[0], wasmFilter.GetName(), wasmFilter.GetDisabled(), &ps), run.config, &ps)
		}
	}
	return facts, ps.err()
}

func TestEnvoyBootstrap(t *testing.T) {
	j := readJSON(t, "envoy.yaml")
	if _, err := checkEnvoy(t, j); err != nil {
		t.Fatal(err)
	}
}

// local.yaml (make run and the Envoy e2e tests) serves the same HTTP as envoy.yaml: its
// listener's filters, routes included, differ only in where the module is read from. So the
// checks above, and the real-Envoy tests run on local.yaml, speak for both.
func TestLocalBootstrapMatches(t *testing.T) {
	filters := func(name string) any {
		m := decodeTree(t, readJSON(t, name))
		wasm := obj(t, m, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "http_filters", 0,
			"typed_config", "config", "vm_config", "code", "local")
		delete(wasm, "filename")
		return at(t, m, "static_resources", "listeners", 0, "filter_chains")
	}
	if got, want := filters("local.yaml"), filters("envoy.yaml"); !reflect.DeepEqual(got, want) {
		t.Fatalf("local.yaml's listener differs from envoy.yaml's beyond the module file:\n got %s\nwant %s", encodeTree(t, got), encodeTree(t, want))
	}
}

// The fields the product depends on must exist in the schema this test validates against.
func TestEnvoySchemaHasTheFlag(t *testing.T) {
	fd := (&wasmv3.PluginConfig{}).ProtoReflect().Descriptor().Fields().ByName("allow_on_headers_stop_iteration")
	if fd == nil {
		t.Fatal("envoy.extensions.wasm.v3.PluginConfig has no allow_on_headers_stop_iteration: go-control-plane/envoy is older than 1.35")
	}
}

func TestEnvoyBootstrapChecksCanFail(t *testing.T) {
	hcm := []any{"static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config"}
	wasmFilter := append(slices.Clone(hcm), "http_filters", 0)
	wasmCfg := append(slices.Clone(wasmFilter), "typed_config", "config")
	filterRoute := append(slices.Clone(hcm), "route_config", "virtual_hosts", 0, "routes", 0)
	otherRoute := append(slices.Clone(hcm), "route_config", "virtual_hosts", 0, "routes", 1)
	cluster := func(t *testing.T, m map[string]any, name string) map[string]any {
		for _, c := range at(t, m, "static_resources", "clusters").([]any) {
			if c.(map[string]any)["name"] == name {
				return c.(map[string]any)
			}
		}
		t.Fatalf("no cluster %s", name)
		return nil
	}
	pluginCfg := func(edit func(map[string]any)) func(*testing.T, map[string]any) {
		return func(t *testing.T, m map[string]any) {
			editJSONString(t, obj(t, m, append(slices.Clone(wasmCfg), "configuration")...), "value", edit)
		}
	}
	cases := []struct {
		name   string
		mutate func(*testing.T, map[string]any)
		want   string
	}{
		{"flag removed", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, wasmCfg...), "allow_on_headers_stop_iteration")
		}, "allow_on_headers_stop_iteration must be true"},
		{"flag false", func(t *testing.T, m map[string]any) {
			obj(t, m, wasmCfg...)["allow_on_headers_stop_iteration"] = false
		}, "allow_on_headers_stop_iteration must be true"},
		{"flag misspelt", func(t *testing.T, m map[string]any) {
			c := obj(t, m, wasmCfg...)
			c["allow_on_header_stop_iteration"] = c["allow_on_headers_stop_iteration"]
			delete(c, "allow_on_headers_stop_iteration")
		}, "unknown field"},
		{"fail open", func(t *testing.T, m map[string]any) {
			obj(t, m, wasmCfg...)["fail_open"] = true
		}, "fail_open must be false"},
		{"failure policy open", func(t *testing.T, m map[string]any) {
			obj(t, m, wasmCfg...)["failure_policy"] = "FAIL_OPEN"
		}, "failure_policy is FAIL_OPEN"},
		{"other runtime", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(wasmCfg), "vm_config")...)["runtime"] = "envoy.wasm.runtime.wamr"
		}, "want envoy.wasm.runtime.v8"},
		{"other module file", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(wasmCfg), "vm_config", "code", "local")...)["filename"] = "/plugin.wasm"
		}, "want /etc/envoy/plugin.wasm"},
		{"no root id", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, wasmCfg...), "root_id")
		}, "root_id is empty"},
		{"configuration not a string", func(t *testing.T, m map[string]any) {
			obj(t, m, wasmCfg...)["configuration"] = map[string]any{
				"@type": "type.googleapis.com/google.protobuf.BytesValue", "value": "e30=",
			}
		}, "must be a google.protobuf.StringValue"},
		{"wasm after router", func(t *testing.T, m map[string]any) {
			h := obj(t, m, hcm...)
			f := h["http_filters"].([]any)
			h["http_filters"] = []any{f[1], f[0]}
		}, "the Wasm filter must come before the router"},
		{"no wasm filter", func(t *testing.T, m map[string]any) {
			h := obj(t, m, hcm...)
			h["http_filters"] = h["http_filters"].([]any)[1:]
		}, "no Wasm filter"},
		{"plugin refuses its configuration", pluginCfg(func(c map[string]any) {
			c["max_request_byte"] = json.Number("16384")
		}), "the plugin refused its configuration"},
		{"plugin configuration not JSON", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(wasmCfg), "configuration")...)["value"] = "{"
		}, "the plugin refused its configuration"},
		{"user store cluster unknown", pluginCfg(func(c map[string]any) {
			c["user_store"].(map[string]any)["cluster"] = "users"
		}), `user_store.cluster "users" is not a cluster`},
		{"userstore cluster missing", func(t *testing.T, m map[string]any) {
			sr := obj(t, m, "static_resources")
			var keep []any
			for _, c := range sr["clusters"].([]any) {
				if c.(map[string]any)["name"] != "userstore" {
					keep = append(keep, c)
				}
			}
			sr["clusters"] = keep
		}, `no cluster "userstore"`},
		{"userstore port", func(t *testing.T, m map[string]any) {
			obj(t, cluster(t, m, "userstore"), "load_assignment", "endpoints", 0, "lb_endpoints", 0,
				"endpoint", "address", "socket_address")["port_value"] = json.Number("8082")
		}, "userstore points at userstore:8082"},
		{"upstream static", func(t *testing.T, m map[string]any) {
			cluster(t, m, "upstream")["type"] = "LOGICAL_DNS"
		}, "upstream is LOGICAL_DNS, want STRICT_DNS"},
		{"route elsewhere", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(otherRoute), "route")...)["cluster"] = "userstore"
		}, "want everything to upstream"},
		// Scoping (issue 18) and the hardening of SPEC 3, 9 and 10.
		{"filter on every route", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, wasmFilter...), "disabled")
		}, "the Wasm filter is not disabled"},
		{"case-sensitive filter route", func(t *testing.T, m map[string]any) {
			re := obj(t, m, append(slices.Clone(filterRoute), "match", "safe_regex")...)
			re["regex"] = strings.TrimPrefix(re["regex"].(string), "(?i)")
		}, "does not run the filter on /PASSWORDLESS/VERIFY"},
		{"filter route without ;params", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(filterRoute), "match", "safe_regex")...)["regex"] = "(?i)/passwordless/verify(?:_redirect)?/?"
		}, "does not run the filter on /passwordless/verify%3Ba=b"},
		{"filter route on the whole folder", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(filterRoute), "match")...)["safe_regex"] = map[string]any{"regex": "(?i)/passwordless/.*"}
		}, "runs the filter on /passwordless/verify/x"},
		{"filter route disabled", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(filterRoute), "typed_per_filter_config", "envoy.filters.http.wasm")...)["disabled"] = true
		}, `route "passwordless_verify" does not run the filter on /passwordless/verify`},
		{"verify_path moved", pluginCfg(func(c map[string]any) {
			c["verify_path"] = "/pv"
		}), "does not run the filter on /pv"},
		{"removal list misses a spelling", func(t *testing.T, m map[string]any) {
			r := obj(t, m, otherRoute...)
			l := r["request_headers_to_remove"].([]any)
			r["request_headers_to_remove"] = l[:len(l)-1]
		}, "want the identity headers and their underscore spellings"},
		{"identity header added", pluginCfg(func(c map[string]any) {
			c["on_success"].(map[string]any)["identity_headers"].(map[string]any)["x-user-email"] = "email"
		}), "x_user_email"},
		{"identity headers removed where the filter sets them", func(t *testing.T, m map[string]any) {
			obj(t, m, filterRoute...)["request_headers_to_remove"] = []any{"x-passwordless-user-id"}
		}, "removes identity header x-passwordless-user-id where the filter runs"},
		{"underscores allowed", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(hcm), "common_http_protocol_options")...)["headers_with_underscores_action"] = "ALLOW"
		}, "headers_with_underscores_action is ALLOW, want DROP_HEADER"},
		{"no merge_slashes", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, hcm...), "merge_slashes")
		}, "want normalize_path, merge_slashes"},
		{"access log without the record", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, append(slices.Clone(hcm), "access_log", 0, "typed_config")...), "log_format")
		}, "prints the filter's record"},
		{"remote address from x-forwarded-for", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, hcm...), "use_remote_address")
		}, "use_remote_address must be true"},
		{"admin open", func(t *testing.T, m map[string]any) {
			obj(t, m, "admin", "address", "socket_address")["address"] = "0.0.0.0"
		}, "admin: listens on 0.0.0.0:9901"},
		{"listener port", func(t *testing.T, m map[string]any) {
			obj(t, m, "static_resources", "listeners", 0, "address", "socket_address")["port_value"] = json.Number("8000")
		}, "want 0.0.0.0:10000"},
		// Envoy's schema rules, in the bootstrap and inside typed configs.
		{"port out of range", func(t *testing.T, m map[string]any) {
			obj(t, m, "static_resources", "listeners", 0, "address", "socket_address")["port_value"] = json.Number("70000")
		}, "PortValue"},
		{"empty stat prefix in a typed config", func(t *testing.T, m map[string]any) {
			obj(t, m, hcm...)["stat_prefix"] = ""
		}, "StatPrefix"},
		{"unknown extension", func(t *testing.T, m map[string]any) {
			obj(t, m, append(slices.Clone(hcm), "http_filters", 1, "typed_config")...)["@type"] = "type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope"
		}, "envoy.extensions.filters.http.nope.v3.Nope"},
	}
	base := readJSON(t, "envoy.yaml")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeTree(t, base)
			tc.mutate(t, m)
			_, err := checkEnvoy(t, encodeTree(t, m))
			wantProblem(t, err, tc.want)
		})
	}
}

// --- docker-compose.yaml ---

func loadCompose(content []byte) (*types.Project, error) {
	dir, err := filepath.Abs(".")
	if err != nil {
		return nil, err
	}
	// Schema validation is on (the default); nothing is fetched (no remote loaders), and the
	// environment is empty rather than this process's, so the result does not depend on it.
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yaml"), Content: content}},
		Environment: types.Mapping{},
	})
}

func checkCompose(content []byte, envoy *envoyFacts) error {
	p, err := loadCompose(content)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	var ps problems
	for _, name := range []string{"envoy", "userstore", "upstream"} {
		if _, ok := p.Services[name]; !ok {
			ps.addf("compose: no service %q", name)
		}
	}
	if len(ps) > 0 {
		return ps.err()
	}

	bind := func(svc types.ServiceConfig, source string) *types.ServiceVolumeConfig {
		for i, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && v.Source == source {
				return &svc.Volumes[i]
			}
		}
		return nil
	}

	e := p.Services["envoy"]
	if !strings.HasPrefix(e.Image, "envoyproxy/envoy:v1.35") {
		ps.addf("compose: envoy image %q, want envoyproxy/envoy:v1.35-latest or a v1.35.x tag", e.Image)
	}
	cfgTarget := ""
	if v := bind(e, filepath.Join(root, "envoy", "envoy.yaml")); v == nil {
		ps.addf("compose: envoy does not mount envoy/envoy.yaml")
	} else {
		cfgTarget = v.Target
	}
	if i := slices.Index(e.Command, "-c"); i < 0 || i+1 >= len(e.Command) || e.Command[i+1] != cfgTarget {
		ps.addf("compose: envoy's command %q does not read the mounted envoy.yaml (%s)", e.Command, cfgTarget)
	}
	if v := bind(e, filepath.Join(root, "build", "plugin.wasm")); v == nil {
		ps.addf("compose: envoy does not mount build/plugin.wasm")
	} else if v.Target != envoy.wasmFile {
		ps.addf("compose: build/plugin.wasm is mounted at %s, but envoy.yaml loads %s", v.Target, envoy.wasmFile)
	}
	if !slices.ContainsFunc(e.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == envoy.listenerPort }) {
		ps.addf("compose: envoy does not publish its listener port %d", envoy.listenerPort)
	}

	u := p.Services["userstore"]
	if !strings.HasPrefix(u.Image, "golang:1.26") {
		ps.addf("compose: userstore image %q, want golang:1.26", u.Image)
	}
	if v := bind(u, root); v == nil || u.WorkingDir == "" || v.Target != u.WorkingDir {
		ps.addf("compose: userstore must mount the repository at its working_dir (%q)", u.WorkingDir)
	}
	wantCmd := []string{"go", "run", "./e2e/refstore", "-db", "/data/store.db", "-addr", "0.0.0.0:8081", "-outbox", "/data/codes.jsonl"}
	if !slices.Equal(u.Command, wantCmd) {
		ps.addf("compose: userstore runs %q, want %q", u.Command, wantCmd)
	}

	// Envoy reaches the other two by their service names, on the ports its clusters use.
	for host := range envoy.endpoints {
		if _, ok := p.Services[host]; !ok {
			ps.addf("compose: envoy.yaml sends traffic to host %q, which is not a service", host)
		}
	}
	if i := slices.Index(u.Command, "-addr"); i < 0 || i+1 >= len(u.Command) ||
		!strings.HasSuffix(u.Command[i+1], fmt.Sprint(":", envoy.endpoints["userstore"])) {
		ps.addf("compose: userstore's -addr in %q is not the port envoy.yaml calls, %d", u.Command, envoy.endpoints["userstore"])
	}
	// ealen/echo-server listens on $PORT.
	if port := p.Services["upstream"].Environment["PORT"]; port == nil || *port != fmt.Sprint(envoy.endpoints["upstream"]) {
		ps.addf("compose: upstream does not listen on port %d (PORT)", envoy.endpoints["upstream"])
	}
	return ps.err()
}

func envoyFactsForCompose(t *testing.T) *envoyFacts {
	t.Helper()
	facts, err := checkEnvoy(t, readJSON(t, "envoy.yaml"))
	if err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	return facts
}

func TestCompose(t *testing.T) {
	content, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCompose(content, envoyFactsForCompose(t)); err != nil {
		t.Fatal(err)
	}
}

func TestComposeChecksCanFail(t *testing.T) {
	facts := envoyFactsForCompose(t)
	svc := func(t *testing.T, m map[string]any, name string) map[string]any { return obj(t, m, "services", name) }
	cases := []struct {
		name   string
		mutate func(*testing.T, map[string]any)
		want   string
	}{
		{"no upstream", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, "services"), "upstream")
			delete(obj(t, m, "services", "envoy", "depends_on"), "upstream")
		}, `no service "upstream"`},
		{"old envoy", func(t *testing.T, m map[string]any) {
			svc(t, m, "envoy")["image"] = "envoyproxy/envoy:v1.34-latest"
		}, "want envoyproxy/envoy:v1.35"},
		{"wasm not mounted", func(t *testing.T, m map[string]any) {
			e := svc(t, m, "envoy")
			e["volumes"] = e["volumes"].([]any)[:1]
		}, "does not mount build/plugin.wasm"},
		{"wasm mounted elsewhere", func(t *testing.T, m map[string]any) {
			e := svc(t, m, "envoy")
			e["volumes"].([]any)[1] = "../build/plugin.wasm:/plugin.wasm:ro"
		}, "but envoy.yaml loads /etc/envoy/plugin.wasm"},
		{"config mounted elsewhere", func(t *testing.T, m map[string]any) {
			e := svc(t, m, "envoy")
			e["volumes"].([]any)[0] = "./envoy.yaml:/envoy.yaml:ro"
		}, "does not read the mounted envoy.yaml"},
		{"listener not published", func(t *testing.T, m map[string]any) {
			delete(svc(t, m, "envoy"), "ports")
		}, "does not publish its listener port 10000"},
		{"userstore command", func(t *testing.T, m map[string]any) {
			svc(t, m, "userstore")["command"] = []any{"go", "run", "./e2e/refstore", "-db", "/data/store.db", "-addr", "0.0.0.0:9999", "-outbox", "/data/codes.jsonl"}
		}, "userstore runs"},
		{"repository not at working_dir", func(t *testing.T, m map[string]any) {
			svc(t, m, "userstore")["working_dir"] = "/app"
		}, "mount the repository at its working_dir"},
		{"upstream port", func(t *testing.T, m map[string]any) {
			svc(t, m, "upstream")["environment"] = map[string]any{"PORT": "80"}
		}, "upstream does not listen on port 8080"},
		{"service renamed", func(t *testing.T, m map[string]any) {
			s := obj(t, m, "services")
			s["users"] = s["userstore"]
			delete(s, "userstore")
			svc(t, m, "envoy")["depends_on"] = map[string]any{"users": map[string]any{"condition": "service_healthy"}}
		}, `no service "userstore"`},
		// The Compose specification's schema.
		{"unknown service key", func(t *testing.T, m map[string]any) {
			svc(t, m, "envoy")["imagee"] = "envoyproxy/envoy:v1.35-latest"
		}, "imagee"},
		{"bad healthcheck", func(t *testing.T, m map[string]any) {
			obj(t, m, "services", "userstore", "healthcheck")["retries"] = "many"
		}, "retries"},
		{"depends on a missing service", func(t *testing.T, m map[string]any) {
			svc(t, m, "envoy")["depends_on"] = map[string]any{"nobody": map[string]any{"condition": "service_started"}}
		}, "nobody"},
	}
	base, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeTree(t, j)
			tc.mutate(t, m)
			wantProblem(t, checkCompose(encodeTree(t, m), facts), tc.want)
		})
	}
}

// --- Istio ---

// istioResource splits a Kubernetes resource into its type and spec (as JSON).
func istioResource(j []byte) (apiVersion, kind string, spec []byte, err error) {
	var r struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(j, &r); err != nil {
		return "", "", nil, err
	}
	return r.APIVersion, r.Kind, r.Spec, nil
}

// wasmPluginRun checks wasmplugin.yaml and returns the settings Istio gives the plugin, as far
// as the plugin can tell: pluginConfig (a Struct) serialised to JSON, and no
// allow_on_headers_stop_iteration.
func wasmPluginRun(j []byte) (pluginRun, error) {
	apiVersion, kind, spec, err := istioResource(j)
	if err != nil {
		return pluginRun{}, err
	}
	var ps problems
	if apiVersion != "extensions.istio.io/v1alpha1" || kind != "WasmPlugin" {
		ps.addf("istio: %s %s, want extensions.istio.io/v1alpha1 WasmPlugin", apiVersion, kind)
	}
	var wp extensionsv1alpha1.WasmPlugin
	if err := unmarshalStrict(spec, &wp); err != nil {
		return pluginRun{}, errors.Join(append(ps, fmt.Errorf("istio: not a valid WasmPlugin spec: %w", err))...)
	}
	if wp.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" {
		ps.addf("istio: WasmPlugin selector %v, want istio: ingressgateway", wp.GetSelector().GetMatchLabels())
	}
	if !strings.HasPrefix(wp.GetUrl(), "oci://") {
		ps.addf("istio: WasmPlugin url %q, want an oci:// image", wp.GetUrl())
	}
	if wp.GetPhase() != extensionsv1alpha1.PluginPhase_AUTHN {
		ps.addf("istio: WasmPlugin phase %s, want AUTHN", wp.GetPhase())
	}
	if wp.GetFailStrategy() != extensionsv1alpha1.FailStrategy_FAIL_CLOSE {
		ps.addf("istio: WasmPlugin failStrategy %s, want FAIL_CLOSE", wp.GetFailStrategy())
	}
	cfg, err := protojson.Marshal(wp.GetPluginConfig())
	if err != nil {
		return pluginRun{}, err
	}
	cluster, err := userStoreCluster(cfg)
	if err != nil {
		ps.addf("istio: %v", err)
	}
	checkIstioCluster(cluster, &ps)
	return pluginRun{config: cfg, rootID: wp.GetPluginName(), vmID: wp.GetPluginName(), clusters: []string{cluster}}, ps.err()
}

// checkIstioCluster: in a gateway, a Service's cluster is outbound|PORT||HOST.
func checkIstioCluster(cluster string, ps *problems) {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 || parts[0] != "outbound" || parts[1] == "" || parts[3] == "" {
		ps.addf("istio: user_store.cluster %q is not an Istio cluster name (outbound|PORT||HOST)", cluster)
	}
}

func checkWasmPlugin(t *testing.T, j []byte) error {
	run, err := wasmPluginRun(j)
	if err != nil {
		return err
	}
	// Everything but the flag Istio cannot set must work: the plugin takes this configuration
	// and verifies through the configured cluster once the body arrives.
	run.allowStopIteration = true
	var ps problems
	run.checkVerifies(t, &ps)
	return ps.err()
}

func TestIstioEnvoyFilter(t *testing.T) {
	if err := checkEnvoyFilter(t, readJSON(t, "istio/envoyfilter.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestIstioWasmPlugin(t *testing.T) {
	if err := checkWasmPlugin(t, readJSON(t, "istio/wasmplugin.yaml")); err != nil {
		t.Fatal(err)
	}
}

// TestIstioWasmPluginHangs shows why the README and the files say to use the EnvoyFilter: the
// WasmPlugin cannot set allow_on_headers_stop_iteration, and without it a verify request
// never gets an answer (the same request with the flag gets its 200 in TestIstioWasmPlugin).
func TestIstioWasmPluginHangs(t *testing.T) {
	run, err := wasmPluginRun(readJSON(t, "istio/wasmplugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.Local != nil || res.Forwarded || !res.Paused {
		t.Fatalf("without allow_on_headers_stop_iteration the verify request should stall in the filter; got %s", res)
	}
}

func TestIstioChecksCanFail(t *testing.T) {
	wasmCfg := []any{"spec", "configPatches", 0, "patch", "value", "typed_config", "config"}
	hcmPatch := []any{"spec", "configPatches", 1, "patch", "value", "typed_config"}
	cases := []struct {
		name   string
		file   string
		mutate func(*testing.T, map[string]any)
		want   string
	}{
		{"envoyfilter: flag removed", "envoyfilter", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, wasmCfg...), "allow_on_headers_stop_iteration")
		}, "allow_on_headers_stop_iteration must be true"},
		{"envoyfilter: fail open", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, wasmCfg...)["failure_policy"] = "FAIL_OPEN"
		}, "failure_policy is FAIL_OPEN"},
		{"envoyfilter: after the router", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 0, "patch")["operation"] = "INSERT_AFTER"
		}, "want INSERT_BEFORE"},
		{"envoyfilter: sidecars", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 0, "match")["context"] = "SIDECAR_INBOUND"
		}, "want GATEWAY"},
		{"envoyfilter: other workload", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "workloadSelector", "labels")["istio"] = "egressgateway"
		}, "want istio: ingressgateway"},
		{"envoyfilter: plugin refuses its configuration", "envoyfilter", func(t *testing.T, m map[string]any) {
			editJSONString(t, obj(t, m, append(slices.Clone(wasmCfg), "configuration")...), "value", func(c map[string]any) {
				delete(c, "tenants")
			})
		}, "the plugin refused its configuration"},
		{"envoyfilter: not an Istio cluster", "envoyfilter", func(t *testing.T, m map[string]any) {
			editJSONString(t, obj(t, m, append(slices.Clone(wasmCfg), "configuration")...), "value", func(c map[string]any) {
				c["user_store"].(map[string]any)["cluster"] = "userstore"
			})
		}, "is not an Istio cluster name"},
		{"envoyfilter: Envoy schema in the patch", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, wasmCfg...)["vm_config"].(map[string]any)["runtim"] = "x"
		}, "the patch value is not an Envoy HTTP filter"},
		{"envoyfilter: Istio schema", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 0)["applyTo"] = "HTTP_FILTERS"
		}, "not a valid EnvoyFilter spec"},
		{"envoyfilter: kind", "envoyfilter", func(t *testing.T, m map[string]any) {
			m["kind"] = "WasmPlugin"
		}, "want networking.istio.io/v1alpha3 EnvoyFilter"},
		{"envoyfilter: no connection manager patch", "envoyfilter", func(t *testing.T, m map[string]any) {
			spec := obj(t, m, "spec")
			spec["configPatches"] = spec["configPatches"].([]any)[:1]
		}, "want one NETWORK_FILTER patch, have 0"},
		{"envoyfilter: Istio's path normalization", "envoyfilter", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, hcmPatch...), "merge_slashes")
		}, "want normalize_path, merge_slashes"},
		{"envoyfilter: underscores allowed", "envoyfilter", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, hcmPatch...), "common_http_protocol_options")
		}, "headers_with_underscores_action is ALLOW, want DROP_HEADER"},
		{"envoyfilter: access log without the record", "envoyfilter", func(t *testing.T, m map[string]any) {
			delete(obj(t, m, append(slices.Clone(hcmPatch), "access_log", 0, "typed_config")...), "log_format")
		}, "prints the filter's record"},
		{"envoyfilter: connection manager replaced", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 1, "patch")["operation"] = "REPLACE"
		}, "want MERGE"},
		{"envoyfilter: disabled without a route to enable it", "envoyfilter", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "configPatches", 0, "patch", "value")["disabled"] = true
		}, "the scoped variant is istio/scoped"},
		{"wasmplugin: fail open", "wasmplugin", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec")["failStrategy"] = "FAIL_OPEN"
		}, "want FAIL_CLOSE"},
		{"wasmplugin: Envoy's spelling of fail closed", "wasmplugin", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec")["failStrategy"] = "FAIL_CLOSED"
		}, "not a valid WasmPlugin spec"},
		{"wasmplugin: phase", "wasmplugin", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec")["phase"] = "STATS"
		}, "want AUTHN"},
		{"wasmplugin: not an image", "wasmplugin", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec")["url"] = "https://example.com/plugin.wasm"
		}, "want an oci:// image"},
		{"wasmplugin: selector", "wasmplugin", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "selector", "matchLabels")["istio"] = "egressgateway"
		}, "want istio: ingressgateway"},
		{"wasmplugin: plugin refuses its configuration", "wasmplugin", func(t *testing.T, m map[string]any) {
			obj(t, m, "spec", "pluginConfig")["max_request_bytes"] = "16384"
		}, "the plugin refused its configuration"},
		{"wasmplugin: kind", "wasmplugin", func(t *testing.T, m map[string]any) {
			m["apiVersion"] = "extensions.istio.io/v1beta1"
		}, "want extensions.istio.io/v1alpha1 WasmPlugin"},
	}
	bases := map[string][]byte{
		"envoyfilter": readJSON(t, "istio/envoyfilter.yaml"),
		"wasmplugin":  readJSON(t, "istio/wasmplugin.yaml"),
	}
	checks := map[string]func(*testing.T, []byte) error{"envoyfilter": checkEnvoyFilter, "wasmplugin": checkWasmPlugin}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeTree(t, bases[tc.file])
			tc.mutate(t, m)
			wantProblem(t, checks[tc.file](t, encodeTree(t, m)), tc.want)
		})
	}
}

// The embedded plugin configurations are the example of SPEC section 2, the same in every
// file (Istio's user store cluster is necessarily named differently).
func TestPluginConfigsAgree(t *testing.T) {
	norm := func(t *testing.T, cfg []byte) map[string]any {
		m := decodeTree(t, cfg)
		delete(obj(t, m, "user_store"), "cluster")
		// Struct numbers come back as 16384 either way; compare values, not spellings.
		return decodeTree(t, encodeTree(t, m))
	}
	configuration := func(t *testing.T, j []byte, path ...any) []byte {
		return []byte(at(t, decodeTree(t, j), path...).(string))
	}
	envoyCfg := configuration(t, readJSON(t, "envoy.yaml"), "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0,
		"typed_config", "http_filters", 0, "typed_config", "config", "configuration", "value")
	efCfg := configuration(t, readJSON(t, "istio/envoyfilter.yaml"), "spec", "configPatches", 0, "patch", "value",
		"typed_config", "config", "configuration", "value")
	scopedCfg := configuration(t, readJSON(t, "istio/scoped/envoyfilter.yaml"), "spec", "configPatches", 0, "patch", "value",
		"typed_config", "config", "configuration", "value")
	run, err := wasmPluginRun(readJSON(t, "istio/wasmplugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	localCfg := configuration(t, readJSON(t, "local.yaml"), "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0,
		"typed_config", "http_filters", 0, "typed_config", "config", "configuration", "value")
	want := norm(t, envoyCfg)
	for name, cfg := range map[string][]byte{"istio/envoyfilter.yaml": efCfg, "istio/scoped/envoyfilter.yaml": scopedCfg, "istio/wasmplugin.yaml": run.config, "local.yaml": localCfg} {
		if got := norm(t, cfg); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: plugin configuration differs from envoy.yaml's:\n got %v\nwant %v", name, got, want)
		}
	}
}
