// Command run starts the filter as a product on this machine, without Docker: the reference
// user store, an echoing upstream, and in front of them the real Envoy running
// build/plugin.wasm (-envoy PATH, what make run does) or, without -envoy, plugin.wasm in our
// proxy-wasm host behind a local HTTP front with an admin port (make run-lite). With -fleet
// (make run-fleet) it runs two Envoy replicas in front of the same store, with Envoy's
// rate-limit service and Redis on loopback for the limits they share (SPEC 14). See e2e/local.
//
//	go run ./e2e/cmd/run -envoy build/bin/envoy -mode forward
//	go run ./e2e/cmd/run -envoy build/bin/envoy -fleet
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
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
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
	flag.IntVar(&opts.Workers, "workers", 2, "worker threads (Envoy's --concurrency), each with its own VM")
	flag.StringVar(&opts.Envoy, "envoy", "", "Envoy binary to run in front (envoy/local.yaml); empty runs our wasm host instead")
	fleet := flag.Bool("fleet", false, "two Envoy replicas (-envoy needed), with the rate-limit service and Redis")
	var second local.Replica
	flag.StringVar(&second.Listen, "listen2", "127.0.0.1:10001", "with -fleet: the second replica's listen address")
	flag.StringVar(&second.Admin, "admin2", "127.0.0.1:9902", "with -fleet: the second replica's admin address")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}
	if *fleet {
		if opts.Envoy == "" {
			return fmt.Errorf("-fleet runs Envoy replicas: give -envoy")
		}
		opts.Replicas = []local.Replica{second}
		opts.RateLimit = &ratelimitrun.Options{}
	}
	opts.DataDir = *dataDir

	var err error
	opts.WasmPath = *wasmPath
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
	front := fmt.Sprintf("our wasm host, %d VMs", st.Workers)
	if st.Envoy != nil {
		front = fmt.Sprintf("Envoy %s, pid %d, %d workers", st.Envoy.Version, st.Envoy.Pid(), st.Workers)
	}
	if *fleet {
		printFleetWalkthrough(os.Stdout, st)
	} else {
		printWalkthrough(os.Stdout, st, front, opts.Mode)
	}

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

func printWalkthrough(w io.Writer, st *local.Stack, front, mode string) {
	if mode == "" {
		mode = "as configured"
	}
	_, _ = fmt.Fprintf(w, `passwordless-verify local stack is up (%s; on_success.mode %s)
  front            %s   POST /passwordless/verify and GET /passwordless/verify_redirect are the filter's; everything else goes upstream
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

  # 5. The plugin's metrics:
  curl -s '%s/stats?filter=passwordless_verify'

`, front, mode, st.FrontURL, st.AdminURL, st.UserStoreURL, st.DBPath, st.UpstreamURL, st.OutboxPath,
		local.DemoTenant, local.DemoConnection, local.DemoUsername, local.DemoClientID,
		st.UserStoreURL, local.DemoTenant, local.DemoConnection, local.DemoUsername,
		st.OutboxPath,
		st.FrontURL, local.DemoTenant, local.DemoClientID, local.DemoConnection, local.DemoUsername,
		st.FrontURL, local.DemoTenant, local.DemoClientID,
		st.FrontURL,
		st.AdminURL)
}

func printFleetWalkthrough(w io.Writer, st *local.Stack) {
	_, _ = fmt.Fprintf(w, "passwordless-verify fleet is up: %d Envoy replicas (Envoy %s), %d workers each\n", len(st.Envoys), st.Envoy.Version, st.Workers)
	for i, e := range st.Envoys {
		_, _ = fmt.Fprintf(w, "  replica %d        %s   admin %s/stats   pid %d\n", i+1, e.URL, e.AdminURL, e.Pid())
	}
	rl := st.RateLimit
	_, _ = fmt.Fprintf(w, `  user store       %s   (SQLite %s), shared by every replica
  rate-limit svc   %s/json   (debug %s, gRPC %s)
  redis            %s   (its counters; persistence off)
  their output     %s
  upstream (echo)  %s
  code outbox      %s

Try it (Ctrl-C stops every process):

  # %d wrong guesses at the demo user's code, alternating between the replicas, each
  # answer's status in a row. Both replicas ask the rate-limit service first
  # (attack_protection.global): the first %d reach the store and get 401, the rest 429,
  # where two replicas on their own would let %d through.
%s
`, st.UserStoreURL, st.DBPath, rl.Service.URL, rl.Service.DebugURL, rl.Service.GRPCAddr, rl.Redis.Addr,
		st.RateLimitLog, st.UpstreamURL, st.OutboxPath,
		local.WalkthroughRounds*len(st.Envoys), local.DemoMaxAttempts, local.DemoMaxAttempts*len(st.Envoys), indent(local.FleetGuesses(st.FrontURLs(), local.WalkthroughRounds), "  "))
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix)
}
