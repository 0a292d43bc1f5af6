// Command browser runs the real-browser test of the hosted login page flow (e2e/browser)
// against the local stack: for each success mode it starts the stack on free loopback ports
// (with -envoy, the real Envoy in front, as make run has it; otherwise our wasm host), with
// the configuration's login page origin moved to a free port, and runs the node test with the
// stack's URLs in its environment. Afterwards no one-time code the store issued may appear in
// the stack's log, Envoy's access log included. Run it from the repository root after make
// build and npm ci in e2e/browser:
//
//	go run ./e2e/cmd/browser -envoy build/bin/envoy    # both modes, through Envoy
//	go run ./e2e/cmd/browser -mode forward             # one mode, our wasm host
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/passwordless-verify/filter/e2e/local"
)

// examplePage is the login page origin in the example configuration.
const examplePage = "http://127.0.0.1:3000"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		os.Exit(1)
	}
}

func run() error {
	mode := flag.String("mode", "", "respond or forward (default: both, one after the other)")
	wasmPath := flag.String("wasm", "build/plugin.wasm", "the plugin (make build)")
	testDir := flag.String("dir", "e2e/browser", "the node project of the browser test")
	shots := flag.String("shots", "build/browser", "where screenshots go")
	envoy := flag.String("envoy", "", "Envoy binary to put in front (envoy/local.yaml); empty runs our wasm host")
	flag.Parse()
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	shotsDir, err := filepath.Abs(*shots)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	modes := []string{local.ModeRespond, local.ModeForward}
	if *mode != "" {
		modes = []string{*mode}
	}
	for _, m := range modes {
		if err := runMode(ctx, m, *envoy, *wasmPath, wasm, *testDir, shotsDir); err != nil {
			return fmt.Errorf("mode %s: %w", m, err)
		}
	}
	return nil
}

func runMode(ctx context.Context, mode, envoy, wasmPath string, wasm []byte, testDir, shotsDir string) error {
	pagePort, err := freePort()
	if err != nil {
		return err
	}
	// The tenant comes from the host: acme.localhost in the example configuration, and under
	// .auth.example.com in Envoy's, which Chromium is told to resolve to loopback.
	cfg, tenantHost, resolverRules := local.ExampleConfig, "acme.localhost", ""
	if envoy != "" {
		if cfg, err = local.EnvoyPluginConfig(); err != nil {
			return err
		}
		tenantHost, resolverRules = "acme.auth.example.com", "MAP acme.auth.example.com 127.0.0.1"
	}
	page := "http://127.0.0.1:" + strconv.Itoa(pagePort)
	cfg = bytes.ReplaceAll(cfg, []byte(examplePage), []byte(page))
	data, err := os.MkdirTemp("", "passwordless-browser-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	logs := &bytes.Buffer{}
	st, err := local.Start(ctx, local.Options{
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", UserStore: "127.0.0.1:0",
		DataDir: data, Wasm: wasm, Config: cfg, Mode: mode, Log: logs,
		Envoy: envoy, WasmPath: wasmPath,
	})
	if err != nil {
		return err
	}
	closeStack := func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(closeCtx)
	}
	defer closeStack()
	_, port, err := net.SplitHostPort(st.FrontURL[len("http://"):])
	if err != nil {
		return err
	}
	fmt.Printf("browser test, mode %s: filter %s, page %s\n", mode, st.FrontURL, page)
	cmd := exec.CommandContext(ctx, "node", "--test", "login.test.mjs")
	cmd.Dir = testDir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"VERIFY_URL=http://"+tenantHost+":"+port,
		"HOST_RESOLVER_RULES="+resolverRules,
		"STORE_URL="+st.UserStoreURL,
		"OUTBOX="+st.OutboxPath,
		"MODE="+mode,
		"PAGE_PORT="+strconv.Itoa(pagePort),
		"SHOTS_DIR="+shotsDir,
	)
	if err := cmd.Run(); err != nil {
		_, _ = io.Copy(os.Stderr, logs) // the stack's log explains most failures
		return err
	}
	// Envoy writes its access log in batches: stop the stack first, so that every line is out
	// (and nothing writes to logs any more). The access log shows the redirect step's path as
	// the filter left it.
	closeStack()
	if envoy != "" && !strings.Contains(logs.String(), `"GET /passwordless/verify_redirect?`) {
		return errors.New("no redirect step in Envoy's access log: the check below would prove nothing")
	}
	return codesNotLogged(st.OutboxPath, logs.String())
}

// codesNotLogged fails if a code from the outbox appears in the log: the redirect step
// carries the code in its URL, which the filter removes before Envoy logs the request.
func codesNotLogged(outbox, log string) error {
	f, err := os.Open(outbox)
	if err != nil {
		return err
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var line struct{ Code string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("outbox line %q: %w", sc.Text(), err)
		}
		if line.Code == "" {
			return fmt.Errorf("outbox line %q has no code", sc.Text())
		}
		if strings.Contains(log, line.Code) {
			return fmt.Errorf("the one-time code %s appears in the stack's log", line.Code)
		}
	}
	if n == 0 {
		return errors.New("the store issued no code: the browser test did not run its flows")
	}
	fmt.Printf("browser test: none of the %d codes issued appears in the log\n", n)
	return nil
}

// freePort asks the kernel for a free loopback port; the page server takes it right after.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
