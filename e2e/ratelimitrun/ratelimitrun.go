// Package ratelimitrun runs the real parts behind the fleet-wide limits of SPEC 14 on loopback:
// Debian's redis-server and Envoy's rate-limit service (envoyproxy/ratelimit, built by
// envoy/ratelimit/install.sh into build/bin/ratelimit), each on free ports, each of which a test
// can kill and start again. make run-fleet and the Envoy e2e tests start them through it.
package ratelimitrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// InstallHint is what to do when the service or Redis is missing.
const InstallHint = "run `make ratelimit` (apt-get installs redis-server; go install builds the pinned service into build/bin/ratelimit), or set RATELIMIT and REDIS_SERVER"

// ErrMissing means the service or Redis is not installed.
var ErrMissing = errors.New("no rate-limit service or redis-server: " + InstallHint)

// Binaries finds the service ($RATELIMIT, else build/bin/ratelimit) and Redis ($REDIS_SERVER,
// else redis-server on the PATH).
func Binaries() (service, redis string, err error) {
	service = os.Getenv("RATELIMIT")
	if service == "" {
		root, err := envoyrun.Root()
		if err != nil {
			return "", "", err
		}
		service = filepath.Join(root, "build", "bin", "ratelimit")
	}
	redis = os.Getenv("REDIS_SERVER")
	if redis == "" {
		redis = "redis-server"
	}
	for _, p := range []*string{&service, &redis} {
		if *p, err = exec.LookPath(*p); err != nil {
			return "", "", fmt.Errorf("%w (%w)", ErrMissing, err)
		}
	}
	return service, redis, nil
}

// Require returns the binaries for a test. Where they are missing the test skips, saying how
// to install them, except in CI (CI set), where that is a failure.
func Require(tb testing.TB) (service, redis string) {
	tb.Helper()
	service, redis, err := Binaries()
	if err == nil {
		return service, redis
	}
	if os.Getenv("CI") != "" || !errors.Is(err, ErrMissing) {
		tb.Fatalf("ratelimit: %v", err)
	}
	tb.Skipf("skipping: %v", err)
	return "", ""
}

// ShippedConfig is the service's configuration for our domain,
// envoy/ratelimit/passwordless_verify.yaml.
func ShippedConfig() ([]byte, error) {
	root, err := envoyrun.Root()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(root, "envoy", "ratelimit", "passwordless_verify.yaml"))
}

// Options says how to run the pair. Zero values run the installed binaries with the shipped
// configuration.
type Options struct {
	Service      string // "" is Binaries()
	Redis        string // "" is Binaries()
	Config       []byte // nil is ShippedConfig()
	LogLevel     string // the service's; "" is warn
	StatsEach    time.Duration
	Log          io.Writer // what both print
	StartTimeout time.Duration
}

// Stack is a Redis and a rate-limit service counting in it.
type Stack struct {
	Redis   *Redis
	Service *Service
}

// Start starts Redis, then the service, and returns once both are ready; on error nothing
// is left running.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Service == "" || o.Redis == "" {
		if o.Service, o.Redis, err = Binaries(); err != nil {
			return nil, err
		}
	}
	if o.Config == nil {
		if o.Config, err = ShippedConfig(); err != nil {
			return nil, err
		}
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	s := &Stack{}
	if s.Redis, err = StartRedis(ctx, o.Redis, o.Log); err != nil {
		return nil, err
	}
	s.Service, err = StartService(ctx, ServiceOptions{
		Binary: o.Service, RedisAddr: s.Redis.Addr, Config: o.Config,
		LogLevel: o.LogLevel, StatsEach: o.StatsEach, Log: o.Log,
	})
	if err != nil {
		_ = s.Redis.Stop()
		return nil, err
	}
	return s, nil
}

// Close stops the service, then Redis.
func (s *Stack) Close() error {
	return errors.Join(s.Service.Stop(), s.Redis.Stop())
}
