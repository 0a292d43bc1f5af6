// Command browser runs the real-browser test of the hosted login page flow (e2e/browser)
// against the local stack: for each success mode it starts the stack on free loopback ports,
// with the example configuration's login page origin moved to a free port, and runs the node
// test with the stack's URLs in its environment. Run it from the repository root after make
// build and npm ci in e2e/browser:
//
//	go run ./e2e/cmd/browser            # both modes
//	go run ./e2e/cmd/browser -mode forward
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
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
		if err := runMode(ctx, m, wasm, *testDir, shotsDir); err != nil {
			return fmt.Errorf("mode %s: %w", m, err)
		}
	}
	return nil
}

func runMode(ctx context.Context, mode string, wasm []byte, testDir, shotsDir string) error {
	pagePort, err := freePort()
	if err != nil {
		return err
	}
	page := "http://127.0.0.1:" + strconv.Itoa(pagePort)
	cfg := bytes.ReplaceAll(local.ExampleConfig, []byte(examplePage), []byte(page))
	data, err := os.MkdirTemp("", "passwordless-browser-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	logs := &bytes.Buffer{}
	st, err := local.Start(ctx, local.Options{
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", UserStore: "127.0.0.1:0",
		DataDir: data, Wasm: wasm, Config: cfg, Mode: mode, Log: logs,
	})
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(closeCtx)
	}()
	_, port, err := net.SplitHostPort(st.FrontURL[len("http://"):])
	if err != nil {
		return err
	}
	fmt.Printf("browser test, mode %s: filter %s, page %s\n", mode, st.FrontURL, page)
	cmd := exec.CommandContext(ctx, "node", "--test", "login.test.mjs")
	cmd.Dir = testDir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"VERIFY_URL=http://acme.localhost:"+port, // the host names the tenant (host_suffix .localhost)
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
