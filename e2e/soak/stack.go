package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/local"
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

// replica is one proxy running the filter: an Envoy process, or plugin.wasm in our host.
type replica struct {
	name    string
	url     string
	mode    string          // on_success.mode
	envoy   *envoyrun.Envoy // nil for the host replica
	host    *hostReplica
	logPath string
	vm0     vmStats // Envoy's VM counts before the traffic
}

// stack is everything the soak runs on loopback: the reference store behind the faulty one,
// the checking upstream, and the replicas.
type stack struct {
	dir      string
	store    *store.Store
	storeLog *os.File
	faults   *faultyStore
	upstream *upstream
	replicas []*replica
	rl       *ratelimitrun.Stack // the rate-limit service and its Redis; nil without the fleet
	rlLog    string
	closers  []func() error // in reverse order of start
}

func startStack(ctx context.Context, o Options, lim limits) (_ *stack, err error) {
	s := &stack{}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	if s.dir, err = workDir(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { return os.RemoveAll(s.dir) })
	if s.storeLog, err = os.Create(filepath.Join(s.dir, "store.log")); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.storeLog.Close)
	s.store, err = store.Open(ctx, filepath.Join(s.dir, "store.db"), store.Options{
		CodeTTL: time.Hour, Logger: slog.New(slog.NewTextHandler(s.storeLog, nil))})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.store.Close)
	timeout := time.Duration(lim.timeoutMS) * time.Millisecond
	s.faults = newFaultyStore(s.store.Handler(), o.FaultShare, timeout, o.Seed)
	s.upstream = newUpstream(identityHeaders)
	storeAddr, err := s.serve(s.faults)
	if err != nil {
		return nil, err
	}
	upAddr, err := s.serve(s.upstream)
	if err != nil {
		return nil, err
	}
	var rlAddr string
	if o.Fleet {
		if rlAddr, err = s.startRateLimit(ctx); err != nil {
			return nil, err
		}
	}
	// Half the replicas answer a success themselves, half forward it: SPEC 8's two modes.
	modes := []string{"forward", "respond"}
	for i := range o.Replicas {
		r, err := s.startEnvoy(ctx, o, i, modes[i%2], lim, storeAddr, upAddr, rlAddr)
		if err != nil {
			return nil, err
		}
		s.replicas = append(s.replicas, r)
	}
	if o.HostReplica {
		i := len(s.replicas)
		r := &replica{name: fmt.Sprintf("replica %d (our wasm host)", i), mode: modes[i%2],
			logPath: filepath.Join(s.dir, "host.log")}
		cfg, err := pluginConfig(lim, r.mode)
		if err != nil {
			return nil, err
		}
		f, err := os.Create(r.logPath)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, f.Close)
		clusters := map[string]string{"userstore": "http://" + storeAddr}
		if rlAddr != "" {
			clusters[local.RateLimitCluster] = "http://" + rlAddr
		}
		if r.host, err = startHostReplica(ctx, o.Wasm, o.Concurrency, cfg, clusters, "http://"+upAddr, f); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() error { return r.host.close(context.Background()) })
		r.url = r.host.url
		s.replicas = append(s.replicas, r)
	}
	return s, nil
}

// serve serves h on a free loopback port until the stack closes.
func (s *stack) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	s.closers = append(s.closers, srv.Close)
	return l.Addr().String(), nil
}

// startRateLimit starts Redis and the rate-limit service with the soak's limits, their output
// in a file; it returns the service's HTTP address.
func (s *stack) startRateLimit(ctx context.Context) (string, error) {
	s.rlLog = filepath.Join(s.dir, "ratelimit.log")
	f, err := os.Create(s.rlLog)
	if err != nil {
		return "", err
	}
	s.closers = append(s.closers, f.Close)
	s.rl, err = ratelimitrun.Start(ctx, ratelimitrun.Options{Config: serviceLimits(), Log: &lockedFile{f: f}})
	if err != nil {
		return "", fmt.Errorf("rate-limit service: %w", err)
	}
	s.closers = append(s.closers, s.rl.Close)
	return strings.TrimPrefix(s.rl.Service.URL, "http://"), nil
}

func (s *stack) startEnvoy(ctx context.Context, o Options, i int, mode string, lim limits, storeAddr, upAddr, rlAddr string) (*replica, error) {
	cfg, err := pluginConfig(lim, mode)
	if err != nil {
		return nil, err
	}
	r := &replica{name: fmt.Sprintf("replica %d", i), mode: mode, logPath: filepath.Join(s.dir, fmt.Sprintf("envoy-%d.log", i))}
	f, err := os.Create(r.logPath)
	if err != nil {
		return nil, err
	}
	r.envoy, err = envoyrun.Start(ctx, envoyrun.Options{
		Binary:       o.Envoy,
		Wasm:         o.Wasm,
		PluginConfig: cfg,
		UserStore:    storeAddr,
		Upstream:     upAddr,
		Concurrency:  o.Concurrency,
		Log:          &lockedFile{f: f},
		Edit: func(b *envoyrun.Bootstrap) error {
			hcm, err := b.HCM()
			if err != nil {
				return err
			}
			// The clients' request ids go through to the store and the upstream, which file
			// what they see under them.
			hcm["preserve_external_request_id"] = true
			if rlAddr != "" {
				return b.AddCluster(local.RateLimitCluster, "userstore", rlAddr)
			}
			return nil
		},
	})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	go func() { <-r.envoy.Exited(); _ = f.Close() }() // Envoy's output is copied until it exits
	s.closers = append(s.closers, r.envoy.Stop)
	r.url = r.envoy.URL
	r.vm0, err = readVMStats(ctx, r.envoy)
	return r, err
}

// stopEnvoys stops every Envoy, which flushes their access logs.
func (s *stack) stopEnvoys() {
	for _, r := range s.replicas {
		if r.envoy != nil {
			_ = r.envoy.Stop()
		}
	}
}

// logs are the files where a code must never appear.
func (s *stack) logs() []string {
	paths := []string{s.storeLog.Name()}
	if s.rlLog != "" {
		paths = append(paths, s.rlLog)
	}
	for _, r := range s.replicas {
		paths = append(paths, r.logPath)
	}
	return paths
}

func (s *stack) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// workDir is private, and in memory where the machine has /dev/shm: the store syncs every
// verification to disk, which would otherwise set the pace.
func workDir() (string, error) {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	return os.MkdirTemp(base, "soak-")
}

// lockedFile takes Envoy's stdout and stderr, copied by two goroutines.
type lockedFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *lockedFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}
