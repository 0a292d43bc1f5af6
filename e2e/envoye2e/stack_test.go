// Package envoye2e tests the built plugin.wasm in the real Envoy (1.40, V8), black-box over
// HTTP on loopback: Envoy from envoy/local.yaml, the reference user store (with scripted
// answers and faults for some usernames) and a recording upstream, each on a free port. The
// fleet tests run several Envoys in front of one store, with the real rate-limit service and
// Redis (e2e/ratelimitrun).
package envoye2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

// Users of the reference store that the tests verify for real.
const (
	tenant     = "acme"
	client     = "acme-web"
	connection = "email"
)

type stackOptions struct {
	config    func(cfg map[string]any) // edits the plugin configuration of envoy/local.yaml
	bootstrap func(b *envoyrun.Bootstrap) error
	storeAddr string // the userstore cluster's endpoint; "" is the test's store
	noStart   bool   // return after a failed start instead of failing the test

	// replicas is how many Envoys run in front of the one store; 0 is 1.
	replicas int
	// replicaConfig edits one replica's plugin configuration, after config.
	replicaConfig func(replica int, cfg map[string]any)
	// rateLimit starts Redis and the rate-limit service, and gives every Envoy the cluster
	// "ratelimit" for it.
	rateLimit *ratelimitrun.Options
}

type stack struct {
	envoy    *envoyrun.Envoy   // the first replica
	envoys   []*envoyrun.Envoy // every replica
	store    *store.Store
	upstream *recorder
	storeHit *counter
	log      *envoyrun.LogBuffer // every replica's output
	startErr error
	rl       *ratelimitrun.Stack
	rlLog    *envoyrun.LogBuffer // the service's and Redis's output
}

func startStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	bin := envoyrun.Require(t)
	ctx := context.Background()
	s := &stack{upstream: &recorder{}, storeHit: &counter{}, log: &envoyrun.LogBuffer{}}

	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "store.db"), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("user store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s.store = st
	storeURL := serve(t, scriptedStore(st.Handler(), s.storeHit))
	upstreamURL := serve(t, s.upstream)
	if o.storeAddr == "" {
		o.storeAddr = storeURL
	}

	root, err := envoyrun.Root()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := os.ReadFile(filepath.Join(root, "envoy", "local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edit := o.bootstrap
	if o.rateLimit != nil {
		edit = s.startRateLimit(t, *o.rateLimit, o.bootstrap)
	}
	for i := range max(o.replicas, 1) {
		var cfg []byte
		if o.config != nil || o.replicaConfig != nil {
			cfg = editPluginConfig(t, bootstrap, func(cfg map[string]any) {
				if o.config != nil {
					o.config(cfg)
				}
				if o.replicaConfig != nil {
					o.replicaConfig(i, cfg)
				}
			})
		}
		e, err := envoyrun.Start(ctx, envoyrun.Options{
			Binary:       bin,
			Bootstrap:    bootstrap,
			PluginConfig: cfg,
			UserStore:    o.storeAddr,
			Upstream:     upstreamURL,
			Edit:         edit,
			Log:          s.log,
			StartTimeout: 2 * time.Minute, // a loaded machine compiles the module slowly
		})
		if s.startErr = err; err != nil {
			if o.noStart {
				return s
			}
			t.Fatalf("envoy %d: %v", i+1, err)
		}
		t.Cleanup(func() { _ = e.Stop() })
		s.envoys = append(s.envoys, e)
	}
	s.envoy = s.envoys[0]
	return s
}

// startRateLimit starts Redis and the rate-limit service for the stack, and returns the
// bootstrap edit that adds the cluster "ratelimit" for the service (after then's own edit).
func (s *stack) startRateLimit(t testing.TB, o ratelimitrun.Options, then func(*envoyrun.Bootstrap) error) func(*envoyrun.Bootstrap) error {
	t.Helper()
	ratelimitrun.Require(t)
	s.rlLog = &envoyrun.LogBuffer{}
	o.Log = s.rlLog
	rl, err := ratelimitrun.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("rate-limit service: %v", err)
	}
	t.Cleanup(func() { _ = rl.Close() })
	s.rl = rl
	addr := strings.TrimPrefix(rl.Service.URL, "http://")
	return func(b *envoyrun.Bootstrap) error {
		if then != nil {
			if err := then(b); err != nil {
				return err
			}
		}
		return b.AddCluster("ratelimit", "userstore", addr)
	}
}

// editPluginConfig applies edit to the plugin configuration that local.yaml carries.
func editPluginConfig(t testing.TB, bootstrap []byte, edit func(map[string]any)) []byte {
	t.Helper()
	b, err := envoyrun.ParseBootstrap(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.PluginConfig()
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// set writes value at a dotted path of a JSON object, creating objects on the way.
func set(cfg map[string]any, path string, value any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := cfg[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cfg[k] = next
		}
		cfg = next
	}
	cfg[keys[len(keys)-1]] = value
}

// serve serves h on a free loopback port until the test ends; it returns host:port.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// addUser puts a user into the reference store.
func (s *stack) addUser(t testing.TB, username, userID string) {
	t.Helper()
	if _, err := s.store.PutUser(context.Background(), store.User{
		Tenant: tenant, Connection: connection, Username: username, UserID: userID,
	}); err != nil {
		t.Fatal(err)
	}
}

// code issues a one-time code for the user.
func (s *stack) code(t testing.TB, username string) string {
	t.Helper()
	c, err := s.store.IssueCode(context.Background(), tenant, connection, username)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type answer struct {
	status  int
	header  http.Header
	body    []byte
	errCode string
	errDesc string
}

// client has no keep-alive pool shared between tests, and never follows redirects.
var httpClient = &http.Client{
	Timeout:       20 * time.Second,
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (s *stack) do(t testing.TB, req *http.Request) answer {
	t.Helper()
	return doWith(t, httpClient, req)
}

func doWith(t testing.TB, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: body}
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil {
		a.errCode, a.errDesc = e.Error, e.Desc
	}
	return a
}

// verify POSTs body to the verify path with the tenant header and content type.
func (s *stack) verify(t testing.TB, headers map[string]string, body string) answer {
	t.Helper()
	return s.verifyWith(t, httpClient, headers, body)
}

func (s *stack) verifyWith(t testing.TB, c *http.Client, headers map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.envoy.URL+"/passwordless/verify", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-tenant-id", tenant)
	req.Header.Set("content-type", "application/json")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	return doWith(t, c, req)
}

func verifyBody(username, otp string) string {
	return fmt.Sprintf(`{"client_id":%q,"connection":%q,"username":%q,"otp":%q}`, client, connection, username, otp)
}

// recorder is the upstream: it records every request and answers 200 with a JSON echo.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Method, Path string
	Header       http.Header
	Body         string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	s := seen{Method: req.Method, Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: string(body)}
	r.mu.Lock()
	r.reqs = append(r.reqs, s)
	r.mu.Unlock()
	w.Header().Set("content-type", "application/json")
	w.Header().Set("x-upstream", "recorder")
	_ = json.NewEncoder(w).Encode(s)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last() seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return seen{}
	}
	return r.reqs[len(r.reqs)-1]
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitFor polls cond until it holds or 10 s pass: Envoy writes logs and stats asynchronously.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
