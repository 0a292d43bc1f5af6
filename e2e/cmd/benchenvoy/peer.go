package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/passwordless-verify/filter/e2e/authzpeer"
	"github.com/passwordless-verify/filter/e2e/bench"
)

// peerCommand is the first argument that makes benchenvoy the peer's authorization service:
// benchenvoy starts itself again with it, so the service runs in a process of its own whose
// CPU time is counted apart from Envoy's and from the store's in benchenvoy.
const peerCommand = "authzpeer"

// servePeer runs authzpeer's service on a free loopback port, with bench.Config and the given
// user store, and prints "listening ADDRESS" once it accepts connections.
func servePeer(args []string) error {
	fs := flag.NewFlagSet(peerCommand, flag.ContinueOnError)
	storeAddr := fs.String("store", "", "the user store's host:port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := authzpeer.ParseConfig([]byte(bench.Config))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("listening", l.Addr())
	srv := &http.Server{Handler: authzpeer.New(cfg, *storeAddr), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}

// peerProcess is the service running in its own process.
type peerProcess struct {
	cmd  *exec.Cmd
	addr string
}

// startPeer starts this program again as the service and waits for its address.
func startPeer(storeAddr string) (*peerProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, peerCommand, "-store", storeAddr) //nolint:gosec // this program itself
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peerProcess{cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		p.stop()
		return nil, errors.Join(errors.New("the authorization service did not start"), err)
	}
	p.addr = addr
	return p, nil
}

func (p *peerProcess) pid() int { return p.cmd.Process.Pid }

func (p *peerProcess) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
