// Package local runs the filter as a product on one machine: the reference user store on
// SQLite, an echoing upstream, and in front of them either the real Envoy with plugin.wasm
// (envoy/local.yaml, through e2e/envoyrun) or, without Envoy, plugin.wasm in our proxy-wasm
// host (e2e/wasmhost) behind an HTTP front that plays Envoy, with an admin port for the
// plugin's metrics. With Envoy it can also run a fleet: several Envoy replicas in front of the
// same store, and Envoy's rate-limit service with Redis (e2e/ratelimitrun) for the limits they
// share (SPEC 14). The run command (e2e/cmd/run) and the tests start it in-process.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
	"github.com/passwordless-verify/filter/e2e/refstore/store"
	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// Demo user seeded on every start, so a walkthrough works on a fresh data dir.
const (
	DemoTenant     = "acme"
	DemoConnection = "email"
	DemoUsername   = "demo@example.com"
	DemoUserID     = "auth0|demo"
	DemoClientID   = "acme-web"
)

// Options configures a Stack. Addresses may use port 0 to pick a free port.
type Options struct {
	Listen    string // the front ("Envoy") address
	Admin     string // the admin address (GET /stats)
	UserStore string // the user store address; must be loopback (its admin surface is open)
	DataDir   string // holds userstore.db and outbox.jsonl; created private if missing
	Wasm      []byte // plugin.wasm, for our host
	Config    []byte // plugin configuration; nil is ExampleConfig, or envoy/local.yaml's with Envoy (and FleetGlobal with RateLimit)
	Mode      string // ModeAsConfigured, ModeRespond or ModeForward
	Workers   int    // VMs, like Envoy worker threads; 0 is 2
	Log       io.Writer

	// Envoy is the Envoy binary to put in front; "" runs our wasm host instead. Envoy loads
	// WasmPath and listens on Listen, with its admin interface on Admin.
	Envoy    string
	WasmPath string

	// Replicas are more Envoys (Envoy only), each with its own listener and admin address, in
	// front of the same user store and upstream: a fleet. Each runs Workers workers.
	Replicas []Replica
	// RateLimit (Envoy only), when set, starts Redis and the rate-limit service with these
	// options, and gives every Envoy the cluster RateLimitCluster for the service's HTTP port.
	RateLimit *ratelimitrun.Options
}

// Replica is the addresses of one more Envoy of a fleet.
type Replica struct{ Listen, Admin string }

// RateLimitCluster is the Envoy cluster of the rate-limit service's HTTP port in a fleet.
const RateLimitCluster = "ratelimit"

// Stack is a running local stack. URLs are http://host:port without a trailing slash.
type Stack struct {
	FrontURL     string
	AdminURL     string
	UserStoreURL string
	UpstreamURL  string
	DBPath       string
	OutboxPath   string
	Workers      int

	Envoy     *envoyrun.Envoy     // nil when our wasm host is the front; else Envoys[0]
	Envoys    []*envoyrun.Envoy   // every replica, in the order of Options.Listen, Options.Replicas
	RateLimit *ratelimitrun.Stack // nil unless Options.RateLimit is set
	// RateLimitLog is the file of the service's and Redis's output, when Options.RateLimit
	// gives no Log.
	RateLimitLog string
	rlLog        *os.File

	log     *slog.Logger
	store   *store.Store
	module  *wasmhost.Module
	vms     []*wasmhost.VM
	stats   *wasmhost.Stats
	servers []*http.Server // closed in this order: the front first, so it drains before its backends
	errc    chan error

	closeOnce sync.Once
	closeErr  error
}

// Start brings up the whole stack; on error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.Workers < 1 || opts.Workers > 64 {
		return nil, fmt.Errorf("workers: %d is not between 1 and 64", opts.Workers)
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if err := requireLoopback(opts.UserStore); err != nil {
		return nil, fmt.Errorf("user store address: %w", err)
	}
	if opts.Envoy == "" && (len(opts.Replicas) > 0 || opts.RateLimit != nil) {
		return nil, errors.New("replicas and the rate-limit service need Envoy in front")
	}
	if opts.Envoy != "" && opts.Config == nil {
		if opts.Config, err = EnvoyPluginConfig(); err != nil {
			return nil, err
		}
		// A fleet shares its limits through the rate-limit service (make run-fleet).
		if opts.RateLimit != nil {
			if opts.Config, err = WithGlobal(opts.Config, FleetGlobal); err != nil {
				return nil, err
			}
		}
	}
	pluginCfg, err := PluginConfig(opts.Config, opts.Mode)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(opts.DataDir); err != nil {
		return nil, err
	}

	out := &lockedWriter{w: opts.Log}
	s := &Stack{
		DBPath:     filepath.Join(opts.DataDir, "userstore.db"),
		OutboxPath: filepath.Join(opts.DataDir, "outbox.jsonl"),
		Workers:    opts.Workers,
		log:        slog.New(slog.NewTextHandler(out, nil)),
		stats:      wasmhost.NewStats(),
		errc:       make(chan error, 4+len(opts.Replicas)),
	}
	defer func() {
		if err != nil {
			_ = s.Close(context.Background())
		}
	}()

	// Listen on everything first: a busy port fails the start before anything runs. Envoy
	// listens on the front and admin addresses itself.
	addrs := [][2]string{{opts.UserStore, "user store"}, {"127.0.0.1:0", "upstream"}}
	if opts.Envoy == "" {
		addrs = append(addrs, [2]string{opts.Listen, "front"}, [2]string{opts.Admin, "admin"})
	}
	var listeners []net.Listener // in the order of addrs
	served := false
	defer func() {
		if !served {
			for _, l := range listeners {
				_ = l.Close()
			}
		}
	}()
	for _, a := range addrs {
		l, err := net.Listen("tcp", a[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a[1], err)
		}
		listeners = append(listeners, l)
	}
	url := func(i int) string { return "http://" + listeners[i].Addr().String() }
	s.UserStoreURL, s.UpstreamURL = url(0), url(1)

	s.store, err = store.Open(ctx, s.DBPath, store.Options{Outbox: s.OutboxPath, Logger: s.log.With("component", "userstore")})
	if err != nil {
		return nil, fmt.Errorf("user store: %w", err)
	}
	if _, err := s.store.PutUser(ctx, store.User{
		Tenant: DemoTenant, Connection: DemoConnection, Username: DemoUsername, UserID: DemoUserID,
		Profile: []byte(`{"name":"Demo User","email":"demo@example.com","email_verified":true}`),
	}); err != nil {
		return nil, fmt.Errorf("seed demo user: %w", err)
	}

	handlers := []http.Handler{s.store.Handler(), echoHandler()}
	if opts.Envoy == "" {
		if err := s.startVMs(ctx, opts.Wasm, pluginCfg, out); err != nil {
			return nil, err
		}
		fh, err := newFront(s.vms, s.UpstreamURL, s.log.With("component", "front"))
		if err != nil {
			return nil, err
		}
		handlers = append(handlers, fh, statsHandler(s.stats))
		s.FrontURL, s.AdminURL = url(2), url(3)
	}
	for i, h := range handlers {
		srv := newServer(h)
		// The front goes first, so that Close drains it before its backends.
		s.servers = append([]*http.Server{srv}, s.servers...)
		go s.serve(srv, listeners[i])
	}
	served = true
	if opts.RateLimit != nil {
		rl := *opts.RateLimit
		if rl.Log == nil {
			// Its log and its stats (a burst every 10 s) go to a file, not the terminal.
			s.RateLimitLog = filepath.Join(opts.DataDir, "ratelimit.log")
			if s.rlLog, err = os.OpenFile(s.RateLimitLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
				return nil, err
			}
			rl.Log = s.rlLog
		}
		if s.RateLimit, err = ratelimitrun.Start(ctx, rl); err != nil {
			return nil, fmt.Errorf("rate-limit service: %w", err)
		}
	}
	if opts.Envoy != "" {
		replicas := append([]Replica{{opts.Listen, opts.Admin}}, opts.Replicas...)
		for i, r := range replicas {
			if err := s.startEnvoy(ctx, i, r, opts, pluginCfg, out); err != nil {
				return nil, err
			}
		}
		s.Envoy = s.Envoys[0]
		s.FrontURL, s.AdminURL = s.Envoy.URL, s.Envoy.AdminURL
	}
	return s, nil
}

// startEnvoy puts a real Envoy in front, from envoy/local.yaml, pointed at this stack's user
// store, upstream and rate-limit service.
func (s *Stack) startEnvoy(ctx context.Context, i int, r Replica, opts Options, pluginCfg []byte, out io.Writer) error {
	eo := envoyrun.Options{
		Binary:       opts.Envoy,
		Wasm:         opts.WasmPath,
		PluginConfig: pluginCfg,
		Listen:       r.Listen,
		Admin:        r.Admin,
		UserStore:    strings.TrimPrefix(s.UserStoreURL, "http://"),
		Upstream:     strings.TrimPrefix(s.UpstreamURL, "http://"),
		Concurrency:  opts.Workers,
		Log:          out,
	}
	if s.RateLimit != nil {
		addr := strings.TrimPrefix(s.RateLimit.Service.URL, "http://")
		eo.Edit = func(b *envoyrun.Bootstrap) error { return b.AddCluster(RateLimitCluster, "userstore", addr) }
	}
	e, err := envoyrun.Start(ctx, eo)
	if err != nil {
		return fmt.Errorf("envoy %d: %w", i+1, err)
	}
	s.Envoys = append(s.Envoys, e)
	go func() {
		<-e.Exited()
		s.errc <- fmt.Errorf("envoy %d exited", i+1)
	}()
	return nil
}

// EnvoyPluginConfig is the plugin configuration in envoy/local.yaml, the one make run uses.
func EnvoyPluginConfig() ([]byte, error) {
	root, err := envoyrun.Root()
	if err != nil {
		return nil, err
	}
	y, err := os.ReadFile(filepath.Join(root, "envoy", "local.yaml"))
	if err != nil {
		return nil, err
	}
	b, err := envoyrun.ParseBootstrap(y)
	if err != nil {
		return nil, err
	}
	return b.PluginConfig()
}

func (s *Stack) startVMs(ctx context.Context, wasm, pluginCfg []byte, out io.Writer) error {
	if len(wasm) == 0 {
		return errors.New("no plugin.wasm given (run make build)")
	}
	var err error
	if s.module, err = wasmhost.Compile(ctx, wasm); err != nil {
		return err
	}
	// One SharedData and one Stats for all VMs: Envoy's workers share both.
	shared := wasmhost.NewSharedData()
	clusters := map[string]wasmhost.Cluster{"userstore": wasmhost.HTTPCluster(s.UserStoreURL)}
	for i := range s.Workers {
		vm, err := s.module.NewVM(ctx, wasmhost.Config{
			PluginConfig: pluginCfg,
			Clusters:     clusters,
			Shared:       shared,
			Stats:        s.stats,
			Log:          pluginLogger(out, i),
			RootID:       "passwordless_verify",
			PluginName:   "passwordless_verify",
		})
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		s.vms = append(s.vms, vm)
	}
	return nil
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       time.Minute,
	}
}

func (s *Stack) serve(srv *http.Server, l net.Listener) {
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		s.errc <- fmt.Errorf("serving %s: %w", l.Addr(), err)
	}
}

// Err delivers an error if a server stops on its own (the command then shuts down).
func (s *Stack) Err() <-chan error { return s.errc }

// Metrics snapshots the plugin's metrics, shared by every worker.
func (s *Stack) Metrics() map[string]wasmhost.Metric { return s.stats.Snapshot() }

// Close shuts the servers down gracefully (the front first, so requests in flight still
// reach the user store and the upstream), then closes the VMs and the database. ctx bounds
// the wait for requests in flight.
func (s *Stack) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, e := range s.Envoys {
			errs = append(errs, e.Stop())
		}
		for _, srv := range s.servers {
			errs = append(errs, srv.Shutdown(ctx))
		}
		for _, vm := range s.vms {
			errs = append(errs, vm.Close(ctx))
		}
		if s.module != nil {
			errs = append(errs, s.module.Close(ctx))
		}
		if s.store != nil {
			errs = append(errs, s.store.Close())
		}
		if s.RateLimit != nil {
			errs = append(errs, s.RateLimit.Close())
		}
		if s.rlLog != nil {
			errs = append(errs, s.rlLog.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// requireLoopback refuses addresses reachable from other machines.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the store's admin surface has no authentication", addr)
	}
	return nil
}
