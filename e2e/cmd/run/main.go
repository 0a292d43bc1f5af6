// Command run starts the filter as a product on this machine, without Envoy or Docker: the
// real build/plugin.wasm in our proxy-wasm host behind a local HTTP front, the reference user
// store, an echoing upstream and an admin port with the plugin's metrics (see e2e/local).
//
//	go run ./e2e/cmd/run -mode forward
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/passwordless-verify/filter/e2e/local"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := local.Options{}
	flag.StringVar(&opts.Listen, "listen", "127.0.0.1:10000", "front (\"Envoy\") listen address")
	flag.StringVar(&opts.Admin, "admin", "127.0.0.1:9901", "admin address: GET /stats")
	flag.StringVar(&opts.UserStore, "userstore", "127.0.0.1:8081", "user store address (loopback only)")
	dataDir := flag.String("data", filepath.Join(os.TempDir(), "passwordless-verify-local"), "data dir: user store database and code outbox")
	wasmPath := flag.String("wasm", "build/plugin.wasm", "the plugin (make build)")
	configPath := flag.String("config", "", "plugin configuration file (default: the built-in example, e2e/local/example-config.json)")
	flag.StringVar(&opts.Mode, "mode", "", "on_success.mode to use: respond or forward (default: as configured)")
	flag.IntVar(&opts.Workers, "workers", 2, "VMs, like Envoy worker threads")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}
	opts.DataDir = *dataDir

	var err error
	if opts.Wasm, err = os.ReadFile(*wasmPath); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	if *configPath != "" {
		if opts.Config, err = os.ReadFile(*configPath); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := local.Start(ctx, opts)
	if err != nil {
		return err
	}
	printWalkthrough(os.Stdout, st, opts.Mode)

	select {
	case <-ctx.Done():
	case err = <-st.Err():
	}
	stop() // a second Ctrl-C now kills the process at once
	fmt.Fprintln(os.Stderr, "run: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := st.Close(shutdownCtx); err == nil {
		err = cerr
	}
	return err
}

func printWalkthrough(w io.Writer, st *local.Stack, mode string) {
	if mode == "" {
		mode = "as configured"
	}
	_, _ = fmt.Fprintf(w, `passwordless-verify local stack is up (%d workers, on_success.mode %s)
  front ("Envoy")  %s   POST /passwordless/verify and GET /passwordless/verify_redirect are the filter's; everything else goes upstream
  admin            %s/stats
  user store       %s   (SQLite %s)
  upstream (echo)  %s
  code outbox      %s
Demo user: tenant %s, connection %s, username %s, client %s.

Try it (Ctrl-C stops the stack):

  # 1. Ask the user store for a code; it goes to the outbox file, never to the answer.
  curl -s -X POST %s/passwordless/start -d '{"tenant":"%s","connection":"%s","username":"%s"}'
  CODE=$(tail -n 1 %s | sed 's/.*"code":"\([0-9]*\)".*/\1/')

  # 2. Verify it through the filter: 200 with the user (or, in forward mode, the upstream's echo).
  curl -s -X POST %s/passwordless/verify -H 'x-tenant-id: %s' -H 'content-type: application/json' \
    -d '{"client_id":"%s","connection":"%s","username":"%s","otp":"'"$CODE"'"}'

  # 3. Run step 2 again: the code is used up, 401 invalid_user_password. A bad request is
  #    answered by the filter and never reaches the user store or the upstream:
  curl -s -X POST %s/passwordless/verify -H 'x-tenant-id: %s' -H 'content-type: application/json' \
    -d '{"client_id":"%s"}'

  # 4. Other paths pass through, without client-sent identity headers:
  curl -s %s/anything -H 'x-passwordless-user-id: forged'

  # 5. Metrics:
  curl -s %s/stats

`, st.Workers, mode, st.FrontURL, st.AdminURL, st.UserStoreURL, st.DBPath, st.UpstreamURL, st.OutboxPath,
		local.DemoTenant, local.DemoConnection, local.DemoUsername, local.DemoClientID,
		st.UserStoreURL, local.DemoTenant, local.DemoConnection, local.DemoUsername,
		st.OutboxPath,
		st.FrontURL, local.DemoTenant, local.DemoClientID, local.DemoConnection, local.DemoUsername,
		st.FrontURL, local.DemoTenant, local.DemoClientID,
		st.FrontURL,
		st.AdminURL)
}
