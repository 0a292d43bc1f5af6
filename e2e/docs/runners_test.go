//go:build unix

package docs

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
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// runner runs one command of a README as its reader would, and checks what the README says
// it does.
type runner func(t *testing.T, root string, c command)

func runnerFor(c command) (runner, bool) {
	switch {
	case c.makeTarget() == "run-lite":
		return runRunLite, true
	case c.makeTarget() == "run-fleet":
		return runRunFleet, true
	case c.makeTarget() == "image":
		return runMakeImage, true
	case c.goPackage() == "./e2e/refstore":
		return runRefstore, true
	case c.goPackage() == "./e2e/cmd/docgen":
		return runDocgen, true
	case c.words[0] == "build/bin/envoy":
		return runEnvoyByHand, true
	}
	return nil, false
}

// The addresses and the data folder make run and make run-lite use by default (e2e/cmd/run),
// which the READMEs' walkthrough names.
const (
	runFront   = "127.0.0.1:10000"
	runAdmin   = "127.0.0.1:9901"
	runStore   = "127.0.0.1:8081"
	runDataDir = "/tmp/passwordless-verify-local"
)

// moved replaces a README's fixed loopback addresses with free ports and /tmp/ with the test's
// own folder, so its commands run beside anything else on the machine (other tests, or a
// make run of one's own).
type moved struct {
	t     *testing.T
	tmp   string
	addrs map[string]string
}

var loopbackRE = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

func newMoved(t *testing.T) *moved {
	return &moved{t: t, tmp: t.TempDir(), addrs: map[string]string{}}
}

func (m *moved) addr(fixed string) string {
	if a, ok := m.addrs[fixed]; ok {
		return a
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.t.Fatal(err)
	}
	a := l.Addr().String()
	_ = l.Close()
	m.addrs[fixed] = a
	return a
}

func (m *moved) apply(s string) string {
	s = loopbackRE.ReplaceAllStringFunc(s, m.addr)
	return strings.ReplaceAll(s, "/tmp/", m.tmp+"/")
}

// runFlags moves make run's addresses and data folder.
func (m *moved) runFlags() string {
	return fmt.Sprintf("-listen %s -admin %s -userstore %s -data %s",
		m.addr(runFront), m.addr(runAdmin), m.addr(runStore), m.apply(runDataDir))
}

// server is a long-running command of a README, started in its own process group so that
// stopping it is the reader's Ctrl-C.
type server struct {
	name string
	cmd  *exec.Cmd
	out  *envoyrun.LogBuffer
	done chan struct{}
	err  error
	once sync.Once
}

func startServer(t *testing.T, root, line string, env []string) *server {
	t.Helper()
	s := &server{name: line, out: &envoyrun.LogBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("bash", "-c", line)
	s.cmd.Dir, s.cmd.Env = root, env
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// waitFor polls check until it passes; it fails the test if the command exits first or the
// time runs out.
func (s *server) waitFor(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			t.Fatalf("%s: exited (%v) before it answered: %v\n%s", s.name, s.err, err, s.out)
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no answer within %v: %v\n%s", s.name, timeout, err, s.out)
		}
	}
}

// waitUp waits for the start line of make run and make run-lite (e2e/cmd/run).
func (s *server) waitUp(t *testing.T) {
	t.Helper()
	s.waitFor(t, 5*time.Minute, func() error {
		if !strings.Contains(s.out.String(), "local stack is up") {
			return errors.New(`no "local stack is up" yet`)
		}
		return nil
	})
}

// stop is Ctrl-C: SIGINT to the process group. Everything must have ended within 30 seconds.
func (s *server) stop(t *testing.T) {
	s.once.Do(func() {
		pgid := -s.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s: still running 30 s after Ctrl-C\n%s", s.name, s.out)
		}
		_ = syscall.Kill(pgid, syscall.SIGKILL) // whatever is left of the group
		<-s.done
	})
}

var client = &http.Client{Timeout: 10 * time.Second}

// get returns the status and body of a request, or an error.
func get(method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("content-type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// answers is a check: url answers status, with want in its body.
func answers(method, url, body string, status int, want string) func() error {
	return func() error {
		code, got, err := get(method, url, body)
		if err != nil {
			return err
		}
		if code != status || !strings.Contains(got, want) {
			return fmt.Errorf("%s %s: %d %q, want %d with %q", method, url, code, got, status, want)
		}
		return nil
	}
}

// runOneShot runs a command of a README to its end.
func runOneShot(t *testing.T, root, line string, env []string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir, cmd.Env = root, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return string(out)
}

// runRunLite starts make run-lite with its addresses moved, sees its front pass a request to
// the echo upstream and its admin port list the plugin's metrics, and stops it.
func runRunLite(t *testing.T, root string, c command) {
	m := newMoved(t)
	s := startServer(t, root, c.text+" RUNFLAGS='"+m.runFlags()+"'", childEnv(""))
	s.waitUp(t)
	for _, check := range []func() error{
		answers("GET", "http://"+m.addr(runFront)+"/anything", "", 200, `"path": "/anything"`),
		answers("POST", "http://"+m.addr(runFront)+"/passwordless/verify", "{}", 400, `"error":"bad.tenant"`),
		answers("GET", "http://"+m.addr(runAdmin)+"/stats", "", 200, "passwordless_verify.requests"),
	} {
		if err := check(); err != nil {
			t.Errorf("%s: %v\n%s", c, err, s.out)
		}
	}
	s.stop(t)
}

// runRunFleet starts make run-fleet as written (its addresses are the README's) and waits for
// both replicas' admin interfaces to say they are ready.
func runRunFleet(t *testing.T, root string, c command) {
	s := startServer(t, root, c.text, childEnv(envoyrun.Require(t)))
	for _, admin := range []string{"127.0.0.1:9901", "127.0.0.1:9902"} {
		s.waitFor(t, 10*time.Minute, answers("GET", "http://"+admin+"/ready", "", 200, "LIVE"))
	}
	s.stop(t)
}

// runRefstore starts the reference store's command with its address and files moved, and
// asks its health check.
func runRefstore(t *testing.T, root string, c command) {
	m := newMoved(t)
	s := startServer(t, root, m.apply(c.text), childEnv(""))
	if len(m.addrs) != 1 {
		t.Fatalf("%s: %d loopback addresses, want the store's one", c, len(m.addrs))
	}
	for _, a := range m.addrs {
		s.waitFor(t, 5*time.Minute, answers("GET", "http://"+a+"/healthz", "", 200, ""))
	}
	s.stop(t)
}

// runEnvoyByHand runs the Envoy command with the Envoy under test (envoyrun.Binary: $ENVOY or
// build/bin/envoy) and with the listener and admin addresses of its bootstrap moved, sees the
// filter answer and Envoy say it is ready, and stops it.
func runEnvoyByHand(t *testing.T, root string, c command) {
	bin := envoyrun.Require(t)
	cfg := ""
	for i, w := range c.words {
		if w == "-c" && i+1 < len(c.words) {
			cfg = c.words[i+1]
		}
	}
	y, err := os.ReadFile(filepath.Join(root, cfg))
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	b, err := envoyrun.ParseBootstrap(y)
	if err != nil {
		t.Fatal(err)
	}
	m := newMoved(t)
	if err := b.SetListen(m.addr(runFront)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetAdmin(m.addr(runAdmin)); err != nil {
		t.Fatal(err)
	}
	out, err := b.JSON()
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(m.tmp, filepath.Base(cfg))
	if err := os.WriteFile(moved, out, 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.Replace(strings.Replace(c.text, c.words[0], bin, 1), cfg, moved, 1)
	s := startServer(t, root, line, childEnv(""))
	s.waitFor(t, 2*time.Minute, answers("GET", "http://"+m.addr(runAdmin)+"/ready", "", 200, "LIVE"))
	s.waitFor(t, time.Minute, answers("POST", "http://"+m.addr(runFront)+"/passwordless/verify", "{}", 400, `"error":"bad.tenant"`))
	s.stop(t)
}

// runMakeImage runs make image and checks what the README says it writes.
func runMakeImage(t *testing.T, root string, c command) {
	out := runOneShot(t, root, c.text, childEnv(""), 5*time.Minute)
	if !strings.Contains(out, "sha256:") {
		t.Errorf("%s: no digest printed:\n%s", c, out)
	}
	for _, f := range []string{"build/image/oci/index.json", "build/image/plugin.tar"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// runDocgen runs docgen on an up-to-date README, where it must change nothing: a stale table
// is TestErrorTableIsCatalogue's to report, and docgen would rewrite the tree under the test.
func runDocgen(t *testing.T, root string, c command) {
	path := filepath.Join(root, ErrorsReadme)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	table, err := ErrorTable()
	if err != nil {
		t.Fatal(err)
	}
	if want, err := WithErrorTable(before, table); err != nil || !bytes.Equal(want, before) {
		t.Skipf("%s: not run on a stale table (TestErrorTableIsCatalogue fails)", c)
	}
	out := runOneShot(t, root, c.text, childEnv(""), 3*time.Minute)
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || !strings.Contains(out, "up to date") {
		t.Errorf("%s: changed an up-to-date %s, or said so: %s", c, ErrorsReadme, out)
	}
}

// isWalkthrough: a block that talks to a running stack.
func isWalkthrough(b block) bool {
	for _, c := range b.commands() {
		if c.words[0] == "curl" {
			return true
		}
	}
	return false
}

// runWalkthrough starts make run with its addresses and data folder moved, in each success
// mode, runs the walkthrough block in bash against it (the same addresses moved), then its
// verify command once more, and checks what the block's comments and the text after it say.
func runWalkthrough(t *testing.T, root string, b block) {
	envoy := envoyrun.Require(t)
	for _, mode := range []string{"respond", "forward"} {
		t.Run(mode, func(t *testing.T) {
			m := newMoved(t)
			s := startServer(t, root, "make run RUNFLAGS='"+m.runFlags()+" -mode "+mode+"'", childEnv(envoy))
			s.waitUp(t)
			out := runSteps(t, root, m, b)
			checkWalkthrough(t, mode, out)
			if t.Failed() {
				t.Logf("the stack's output:\n%s", s.out)
			}
			s.stop(t)
		})
	}
}

// step is one command of the walkthrough and what it printed.
type step struct {
	cmd command
	out string
}

func runSteps(t *testing.T, root string, m *moved, b block) []step {
	t.Helper()
	cmds := b.commands()
	var script strings.Builder
	script.WriteString("set -eo pipefail\n")
	for i, c := range cmds {
		fmt.Fprintf(&script, "echo '### %d'\n%s\n", i, m.apply(c.text))
	}
	for i, c := range cmds { // the verify step again: the code is used up
		if strings.Contains(c.text, "/passwordless/verify") {
			fmt.Fprintf(&script, "echo '### again'\n%s\n", m.apply(c.text))
			cmds = append(cmds, cmds[i])
			break
		}
	}
	out := runOneShot(t, root, script.String(), childEnv(""), 2*time.Minute)
	parts := strings.Split(out, "### ")[1:]
	if len(parts) != len(cmds) {
		t.Fatalf("the walkthrough printed %d parts for %d commands:\n%s", len(parts), len(cmds), out)
	}
	steps := make([]step, len(cmds))
	for i, p := range parts {
		_, body, _ := strings.Cut(p, "\n")
		steps[i] = step{cmd: cmds[i], out: body}
	}
	return steps
}

// checkWalkthrough checks each step's output against what e2e/README.md says of it.
func checkWalkthrough(t *testing.T, mode string, steps []step) {
	var verifies []string
	seen := map[string]bool{}
	for _, s := range steps {
		switch c := s.cmd.text; {
		case strings.Contains(c, "/passwordless/verify"):
			verifies = append(verifies, s.out)
		case strings.Contains(c, "/anything"):
			var e struct {
				Path    string
				Headers map[string][]string
			}
			if err := json.Unmarshal([]byte(s.out), &e); err != nil || e.Path != "/anything" || strings.Contains(s.out, "forged") {
				t.Errorf("%s: want the echo of /anything without the forged header, got (%v):\n%s", c, err, s.out)
			}
			seen["anything"] = true
		case strings.Contains(c, "/stats"):
			if !strings.Contains(s.out, "wasmcustom.passwordless_verify.verified: 1") {
				t.Errorf("%s: want wasmcustom.passwordless_verify.verified: 1, got:\n%s", c, s.out)
			}
			seen["stats"] = true
		case strings.Contains(c, "server_info"):
			if !strings.Contains(s.out, `"version"`) {
				t.Errorf("%s: want Envoy's version, got:\n%s", c, s.out)
			}
			seen["version"] = true
		}
	}
	if len(verifies) != 2 || len(seen) != 3 {
		t.Fatalf("the walkthrough lost a step: %d verify answers, others %v", len(verifies), seen)
	}
	first, again := verifies[0], verifies[1]
	if mode == "respond" {
		var user struct {
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(first), &user); err != nil || user.UserID != "auth0|demo" {
			t.Errorf("respond mode: want 200 and the user auth0|demo, got (%v):\n%s", err, first)
		}
	} else {
		var e struct {
			Headers map[string][]string
			Body    string
		}
		err := json.Unmarshal([]byte(first), &e)
		if err != nil || fmt.Sprint(e.Headers["x-passwordless-user-id"]) != "[auth0|demo]" ||
			fmt.Sprint(e.Headers["x-passwordless-tenant"]) != "[acme]" ||
			strings.Contains(e.Body, "otp") || !strings.Contains(e.Body, "demo@example.com") {
			t.Errorf("forward mode: want the upstream's echo with the identity headers and the body without otp, got (%v):\n%s", err, first)
		}
	}
	const used = `{"error":"invalid_user_password","error_description":"Wrong email or password."}`
	if strings.TrimSpace(again) != used {
		t.Errorf("the verify step again: want %s, got:\n%s", used, again)
	}
}
