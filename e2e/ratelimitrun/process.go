package ratelimitrun

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// process is one program we started: its output goes to log and to a tail kept for error
// messages, and its exit is awaited in the background.
type process struct {
	name   string
	cmd    *exec.Cmd
	tail   *envoyrun.TailBuffer
	exited chan struct{}
	err    error // set before exited closes
}

// startProcess runs bin with exactly env as its environment: nothing of ours leaks into the
// settings of a program that reads them all from the environment.
func startProcess(name, bin string, args, env []string, log io.Writer) (*process, error) {
	p := &process{name: name, tail: envoyrun.NewTailBuffer(32 << 10), exited: make(chan struct{})}
	var out io.Writer = p.tail
	if log != nil {
		out = io.MultiWriter(p.tail, log)
	}
	p.cmd = exec.Command(bin, args...) //nolint:gosec // the binaries the project installed (or the operator's $RATELIMIT, $REDIS_SERVER)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = envoyrun.SysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits, or ctx ends.
func (p *process) waitReady(ctx context.Context, ready func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%w); its last lines:\n%s", p.name, p.err, p.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last try: %w); its last lines:\n%s", p.name, ctx.Err(), err, p.tail.String())
		case <-tick.C:
		}
	}
}

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends sig and waits for the exit, killing the process if it takes over 10 s.
func (p *process) stop(sig syscall.Signal) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused program handles SIGTERM only once it runs
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// onFreePorts calls start with n distinct loopback ports that were free a moment ago. Another
// program may take one before ours binds it, so a failed start is tried again, with other
// ports, a few times.
func onFreePorts(ctx context.Context, n int, start func(ports []string) error) error {
	var err error
	for range 3 {
		var ports []string
		if ports, err = freePorts(n); err != nil {
			return err
		}
		if err = start(ports); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func freePorts(n int) ([]string, error) {
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// restartable is a program the tests kill and start again, with the same arguments,
// environment and ports each time.
type restartable struct {
	name  string
	bin   string
	args  []string
	env   []string
	log   io.Writer
	ready func(context.Context) error

	mu sync.Mutex
	p  *process
}

func (r *restartable) launch(ctx context.Context) error {
	p, err := startProcess(r.name, r.bin, r.args, r.env, r.log)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.p = p
	r.mu.Unlock()
	return p.waitReady(ctx, r.ready)
}

func (r *restartable) current() *process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p
}

// Kill ends the program at once (SIGKILL), as a crash would.
func (r *restartable) Kill() {
	if p := r.current(); p != nil {
		p.stop(syscall.SIGKILL)
	}
}

// Pause stops the program (SIGSTOP) without closing anything: connections are still
// accepted by the kernel, and nothing is answered until Resume. A service slower than any
// timeout, for as long as the test wants.
func (r *restartable) Pause() error { return r.signal(syscall.SIGSTOP) }

// Resume lets a paused program go on (SIGCONT): it answers what waited, late.
func (r *restartable) Resume() error { return r.signal(syscall.SIGCONT) }

func (r *restartable) signal(sig syscall.Signal) error {
	p := r.current()
	if p == nil || !p.running() {
		return fmt.Errorf("%s is not running", r.name)
	}
	return p.cmd.Process.Signal(sig)
}

// Restart stops the program if it runs and starts it again, waiting until it is ready.
func (r *restartable) Restart(ctx context.Context) error {
	r.halt()
	return r.launch(ctx)
}

func (r *restartable) halt() {
	if p := r.current(); p != nil {
		p.stop(syscall.SIGTERM)
	}
}

// Output is the tail of what the program printed since it last started.
func (r *restartable) Output() string {
	if p := r.current(); p != nil {
		return p.tail.String()
	}
	return ""
}
