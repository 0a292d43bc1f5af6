package local

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// wasmPath is built by make build; make test builds it first.
var wasmPath = filepath.Join("..", "..", "build", "plugin.wasm")

var client = &http.Client{Timeout: 10 * time.Second}

// fronts runs f with each front the stack can have: our wasm host (make run-lite) and the
// real Envoy (make run).
func fronts(t *testing.T, f func(t *testing.T, envoy bool)) {
	t.Run("wasmhost", func(t *testing.T) { f(t, false) })
	t.Run("envoy", func(t *testing.T) { f(t, true) })
}

// startStack starts a whole stack. The tests run one after the other on purpose: the second
// compile of plugin.wasm then comes from wazero's in-process cache (a compile takes a second,
// and about 20 under -race).
func startStack(t *testing.T, envoy bool, mode string) (*Stack, *envoyrun.LogBuffer) {
	t.Helper()
	return startWith(t, envoy, func(o *Options) { o.Mode = mode })
}

// startWith starts a stack on free ports with the options edit sets.
func startWith(t *testing.T, envoy bool, edit func(*Options)) (*Stack, *envoyrun.LogBuffer) {
	t.Helper()
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("%v: build the plugin first (make build; make test does it)", err)
	}
	opts := Options{
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", UserStore: "127.0.0.1:0",
		DataDir: filepath.Join(t.TempDir(), "data"), Wasm: wasm,
	}
	edit(&opts)
	if envoy {
		opts.Envoy, opts.WasmPath = envoyrun.Require(t), wasmPath
	}
	logs := &envoyrun.LogBuffer{}
	opts.Log = logs
	st, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("stack log:\n%s", logs)
		}
	})
	return st, logs
}

func do(t *testing.T, method, url string, header map[string]string, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, out
}

// issueCode starts a login for the demo user the way a developer would, and reads the code
// from the outbox file.
func issueCode(t *testing.T, st *Stack) string {
	t.Helper()
	status, body := do(t, "POST", st.UserStoreURL+"/passwordless/start", nil,
		`{"tenant":"acme","connection":"email","username":"demo@example.com"}`)
	if status != 200 {
		t.Fatalf("passwordless/start: %d %s", status, body)
	}
	f, err := os.Open(st.OutboxPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last struct{ Code string }
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
	}
	if last.Code == "" {
		t.Fatal("no code in the outbox")
	}
	return last.Code
}

func verify(t *testing.T, st *Stack, code string, extra map[string]string) (int, []byte) {
	t.Helper()
	h := map[string]string{"x-tenant-id": "acme", "content-type": "application/json"}
	for k, v := range extra {
		h[k] = v
	}
	return do(t, "POST", st.FrontURL+"/passwordless/verify", h,
		`{"client_id":"acme-web","connection":"email","username":"demo@example.com","otp":"`+code+`"}`)
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func TestRespondMode(t *testing.T) { fronts(t, testRespondMode) }

func testRespondMode(t *testing.T, envoy bool) {
	st, logs := startStack(t, envoy, ModeAsConfigured) // the example config: respond
	code := issueCode(t, st)

	status, body := verify(t, st, code, nil)
	if status != 200 || decode[map[string]any](t, body)["user_id"] != DemoUserID {
		t.Fatalf("right code: %d %s", status, body)
	}
	status, body = verify(t, st, code, nil)
	if status != 401 || decode[map[string]string](t, body)["error"] != "invalid_user_password" {
		t.Fatalf("used code: %d %s", status, body)
	}
	// Envoy-like limits: the filter answers an oversized body itself.
	status, body = do(t, "POST", st.FrontURL+"/passwordless/verify", map[string]string{"x-tenant-id": "acme"},
		`{"client_id":"`+strings.Repeat("a", 20000)+`"}`)
	if status != 413 {
		t.Errorf("oversized body: %d %s", status, body)
	}

	status, body = do(t, "GET", st.FrontURL+"/anything?q=1",
		map[string]string{"x-passwordless-user-id": "forged", "x-other": "kept"}, "")
	echo := decode[Echo](t, body)
	if status != 200 || echo.Method != "GET" || echo.Path != "/anything?q=1" {
		t.Fatalf("pass-through: %d %s", status, body)
	}
	if v, ok := echo.Headers["x-passwordless-user-id"]; ok {
		t.Errorf("a client-sent identity header reached the upstream: %q", v)
	}
	if got := echo.Headers["x-other"]; len(got) != 1 || got[0] != "kept" {
		t.Errorf("x-other upstream: %q", got)
	}

	// Envoy names the plugin's metrics with its own prefix and a colon.
	verified := `(?m)^passwordless_verify\.verified 1$`
	if envoy {
		verified = `(?m)^wasmcustom\.passwordless_verify\.verified: 1$`
	}
	status, body = do(t, "GET", st.AdminURL+"/stats?filter=passwordless_verify", nil, "")
	if status != 200 || !regexp.MustCompile(verified).Match(body) {
		t.Errorf("stats: %d\n%s", status, body)
	}
	// SPEC 9: the code is in no log line (the outbox file is the only place it goes).
	if regexp.MustCompile(`\b` + code + `\b`).MatchString(logs.String()) {
		t.Errorf("the code %s appears in the log:\n%s", code, logs)
	}
	logLine := "][info] passwordless_verify: "
	if envoy {
		logLine = "][info][wasm] "
	}
	if !strings.Contains(logs.String(), logLine) || !strings.Contains(logs.String(), "passwordless_verify: tenant=") {
		t.Errorf("no plugin log line with its level:\n%s", logs)
	}
}

func TestForwardMode(t *testing.T) { fronts(t, testForwardMode) }

func testForwardMode(t *testing.T, envoy bool) {
	st, _ := startStack(t, envoy, ModeForward)
	code := issueCode(t, st)

	status, body := verify(t, st, code, map[string]string{"x-passwordless-user-id": "forged"})
	echo := decode[Echo](t, body)
	if status != 200 || echo.Method != "POST" || echo.Path != "/passwordless/verify" {
		t.Fatalf("forwarded verify: %d %s", status, body)
	}
	if got := echo.Headers["x-passwordless-user-id"]; len(got) != 1 || got[0] != DemoUserID {
		t.Errorf("x-passwordless-user-id upstream: %q", got)
	}
	if got := echo.Headers["x-passwordless-tenant"]; len(got) != 1 || got[0] != DemoTenant {
		t.Errorf("x-passwordless-tenant upstream: %q", got)
	}
	fwd := decode[map[string]any](t, []byte(echo.Body))
	if _, ok := fwd["otp"]; ok || strings.Contains(echo.Body, code) || fwd["client_id"] != DemoClientID {
		t.Errorf("forwarded body: %s", echo.Body)
	}
	// A used code never reaches the upstream.
	status, body = verify(t, st, code, nil)
	if status != 401 {
		t.Errorf("used code: %d %s", status, body)
	}
}

func TestPluginConfig(t *testing.T) {
	cfg, err := PluginConfig(nil, ModeForward)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		OnSuccess struct {
			Mode            string            `json:"mode"`
			IdentityHeaders map[string]string `json:"identity_headers"`
		} `json:"on_success"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil || c.OnSuccess.Mode != "forward" || len(c.OnSuccess.IdentityHeaders) != 2 {
		t.Errorf("forward config %s (%v)", cfg, err)
	}
	if got, err := PluginConfig([]byte(`{"a":1,"a":2}`), ModeAsConfigured); err != nil || string(got) != `{"a":1,"a":2}` {
		t.Errorf("as configured: %s %v", got, err) // the plugin judges the bytes itself
	}
	for _, bad := range []string{`{"tenants":{"x":{},"x":{}}}`, `{"on_success":[]}`, `{} {}`} {
		if _, err := PluginConfig([]byte(bad), ModeRespond); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := PluginConfig(nil, "both"); err == nil {
		t.Error("mode both: no error")
	}
}

// TestWithGlobal: make run-fleet's configuration is make run's with attack_protection.global
// added, and nothing else changed.
func TestWithGlobal(t *testing.T) {
	base, err := EnvoyPluginConfig()
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := WithGlobal(base, FleetGlobal)
	if err != nil {
		t.Fatal(err)
	}
	var b, f map[string]any
	if err := json.Unmarshal(base, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fleet, &f); err != nil {
		t.Fatal(err)
	}
	ap := f["attack_protection"].(map[string]any)
	if g, ok := ap["global"].(map[string]any); !ok || g["cluster"] != RateLimitCluster || len(g) != 1 {
		t.Errorf("attack_protection.global = %v", ap["global"])
	}
	delete(ap, "global")
	if !reflect.DeepEqual(b, f) {
		t.Errorf("more than global changed:\n%s\n%s", base, fleet)
	}
	if _, err := WithGlobal([]byte(`{"attack_protection":7}`), FleetGlobal); err == nil || !strings.Contains(err.Error(), "attack_protection: must be an object") {
		t.Errorf("attack_protection not an object: %v", err)
	}
}
