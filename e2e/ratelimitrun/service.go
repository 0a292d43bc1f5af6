package ratelimitrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Service is Envoy's rate-limit service (envoyproxy/ratelimit) we started, with its counters in
// a Redis, every listener on loopback.
type Service struct {
	URL      string // http://127.0.0.1:PORT: POST /json (SPEC 14's endpoint), GET /healthcheck
	GRPCAddr string // 127.0.0.1:PORT, the gRPC API Envoy's own ratelimit filter uses
	DebugURL string // http://127.0.0.1:PORT: /rlconfig, /stats
	restartable
	runtime string // RUNTIME_ROOT, holding ratelimit/config/limits.yaml
}

// ServiceOptions says how to run the service.
type ServiceOptions struct {
	Binary    string
	RedisAddr string
	Config    []byte        // its limits (YAML, one domain)
	LogLevel  string        // logrus level; "" is warn. debug logs every descriptor it is asked about
	StatsEach time.Duration // how often its stats go to its log; 0 is its default, 10 s
	Log       io.Writer
}

// StartService starts the service on free loopback ports and waits until it has loaded its
// configuration and answers /healthcheck. Redis must be up: the service stops at start when
// it cannot PING it.
func StartService(ctx context.Context, o ServiceOptions) (_ *Service, err error) {
	dir, err := os.MkdirTemp("", "ratelimitrun-service-")
	if err != nil {
		return nil, err
	}
	s := &Service{runtime: dir, restartable: restartable{name: "ratelimit", bin: o.Binary, log: o.Log}}
	s.ready = s.healthy
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	// The file provider reads $RUNTIME_ROOT/$RUNTIME_SUBDIRECTORY/config/*.yaml.
	conf := filepath.Join(dir, "ratelimit", "config")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(conf, "limits.yaml"), o.Config, 0o600); err != nil {
		return nil, err
	}
	level := o.LogLevel
	if level == "" {
		level = "warn"
	}
	err = onFreePorts(ctx, 3, func(ports []string) error {
		s.URL = "http://127.0.0.1:" + ports[0]
		s.GRPCAddr = "127.0.0.1:" + ports[1]
		s.DebugURL = "http://127.0.0.1:" + ports[2]
		// Its listeners default to 0.0.0.0: every one is set to loopback here. Stats go to its
		// own log (USE_STATSD=false selects its logging sink) instead of a statsd on :8125.
		s.env = []string{
			"HOST=127.0.0.1", "PORT=" + ports[0],
			"GRPC_HOST=127.0.0.1", "GRPC_PORT=" + ports[1],
			"DEBUG_HOST=127.0.0.1", "DEBUG_PORT=" + ports[2],
			"USE_STATSD=false", "LOG_LEVEL=" + level,
			"BACKEND_TYPE=redis", "REDIS_SOCKET_TYPE=tcp", "REDIS_URL=" + o.RedisAddr,
			"CONFIG_TYPE=FILE", "RUNTIME_ROOT=" + dir, "RUNTIME_SUBDIRECTORY=ratelimit",
			"RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true",
			// Healthy only once a configuration has loaded: a bad one is a failed start.
			"HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED=true",
		}
		if o.StatsEach > 0 {
			s.env = append(s.env, "STATS_FLUSH_INTERVAL="+o.StatsEach.String())
		}
		return s.launch(ctx)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/healthcheck", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthcheck: %s", resp.Status)
	}
	return nil
}

// Stop ends the service and removes its configuration directory.
func (s *Service) Stop() error {
	s.halt()
	return os.RemoveAll(s.runtime)
}
