package wasmhost

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Guest modules built from testdata/guests by TestMain, and the product's build/plugin.wasm.
var (
	guestDir   string
	pluginPath = filepath.Join("..", "..", "build", "plugin.wasm")

	modMu   sync.Mutex
	modules = map[string]*Module{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmhost-guests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestDir = dir
	for _, g := range []string{"probe", "badimport"} {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(dir, g+".wasm"), ".")
		cmd.Dir = filepath.Join("testdata", "guests", g)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building guest %s: %v\n%s", g, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	for _, mod := range modules {
		_ = mod.Close(context.Background())
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func guestWasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(guestDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// module compiles a guest (or "plugin") once per test binary.
func module(t testing.TB, name string) *Module {
	t.Helper()
	modMu.Lock()
	defer modMu.Unlock()
	if m, ok := modules[name]; ok {
		return m
	}
	var wasm []byte
	if name == "plugin" {
		b, err := os.ReadFile(pluginPath)
		if err != nil {
			t.Skipf("build/plugin.wasm is missing (run ./build.sh first): %v", err)
		}
		wasm = b
	} else {
		wasm = guestWasm(t, name)
	}
	m, err := Compile(context.Background(), wasm)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	modules[name] = m
	return m
}

// probe starts a probe VM configured by key/value pairs (see testdata/guests/probe).
func probe(t testing.TB, cfg Config, kv ...string) *VM {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	cfg.PluginConfig = []byte(q.Encode())
	if cfg.RootID == "" {
		cfg.RootID = "probe_root"
	}
	vm, err := module(t, "probe").NewVM(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start probe: %v", err)
	}
	t.Cleanup(func() { _ = vm.Close(context.Background()) })
	return vm
}

// logsWith returns the messages of log entries containing substr.
func logsWith(vm *VM, substr string) []string {
	var out []string
	for _, l := range vm.Logs() {
		if strings.Contains(l.Msg, substr) {
			out = append(out, l.Msg)
		}
	}
	return out
}

func header(pairs [][2]string, key string) (string, bool) {
	for _, p := range pairs {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}
