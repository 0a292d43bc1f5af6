// Package local runs the filter as a product on one machine: the reference user store on
// SQLite, an echoing upstream, and in front of them either the real Envoy with plugin.wasm
// (envoy/local.yaml, through e2e/envoyrun) or, without Envoy, plugin.wasm in our proxy-wasm
// host (e2e/wasmhost) behind an HTTP front that plays Envoy, with an admin port for the
// plugin's metrics. The run command (e2e/cmd/run) and the tests start it in-process.
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
	Config    []byte // plugin configuration; nil is ExampleConfig, or envoy/local.yaml's with Envoy
	Mode      string // ModeAsConfigured, ModeRespond or ModeForward
	Workers   int    // VMs, like Envoy worker threads; 0 is 2
	Log       io.Writer

	// Envoy is the Envoy binary to put in front; "" runs our wasm host instead. Envoy loads
	// WasmPath and listens on Listen, with its admin interface on Admin.
	Envoy    string
	WasmPath string
}

// Stack is a running local stack. URLs are http://host:port without a trailing slash.
type Stack struct {
	FrontURL     string
	AdminURL     string
	UserStoreURL string
	UpstreamURL  string
	DBPath       string
	OutboxPath   string
	Workers      int

	Envoy *envoyrun.Envoy // nil when our wasm host is the front

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
	if opts.Envoy != "" && opts.Config == nil {
		if opts.Config, err = EnvoyPluginConfig(); err != nil {
			return nil, err
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
		errc:       make(chan error, 4),
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
		fh, err := newFront(s.vms, s.UpstreamURL, s.log.With("component", "front"), out)
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
	if opts.Envoy != "" {
		if err := s.startEnvoy(ctx, opts, pluginCfg, out); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startEnvoy puts the real Envoy in front, from envoy/local.yaml, pointed at this stack's
// user store and upstream.
func (s *Stack) startEnvoy(ctx context.Context, opts Options, pluginCfg []byte, out io.Writer) error {
	e, err := envoyrun.Start(ctx, envoyrun.Options{
		Binary:       opts.Envoy,
		Wasm:         opts.WasmPath,
		PluginConfig: pluginCfg,
		Listen:       opts.Listen,
		Admin:        opts.Admin,
		UserStore:    strings.TrimPrefix(s.UserStoreURL, "http://"),
		Upstream:     strings.TrimPrefix(s.UpstreamURL, "http://"),
		Concurrency:  opts.Workers,
		Log:          out,
	})
	if err != nil {
		return fmt.Errorf("envoy: %w", err)
	}
	s.Envoy = e
	s.FrontURL, s.AdminURL = e.URL, e.AdminURL
	go func() {
		<-e.Exited()
		s.errc <- errors.New("envoy exited")
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
		if s.Envoy != nil {
			errs = append(errs, s.Envoy.Stop())
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
