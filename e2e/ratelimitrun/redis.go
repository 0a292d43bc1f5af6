package ratelimitrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Redis is a redis-server we started on loopback, with persistence off: a restart starts from
// no counters, as a lost Redis does.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	restartable
	dir string // its working directory, where nothing is saved
}

// StartRedis starts bin on a free loopback port and waits until it answers PING.
func StartRedis(ctx context.Context, bin string, log io.Writer) (_ *Redis, err error) {
	dir, err := os.MkdirTemp("", "ratelimitrun-redis-")
	if err != nil {
		return nil, err
	}
	r := &Redis{dir: dir, restartable: restartable{name: "redis-server", bin: bin, log: log}}
	r.ready = r.ping
	defer func() {
		if err != nil {
			_ = r.Stop()
		}
	}()
	err = onFreePorts(ctx, 1, func(ports []string) error {
		r.Addr = "127.0.0.1:" + ports[0]
		r.args = []string{
			"--bind", "127.0.0.1", "--port", ports[0], "--protected-mode", "yes",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
		}
		return r.launch(ctx)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ping asks Redis for PONG with the protocol's inline command form.
func (r *Redis) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop ends Redis and removes its directory.
func (r *Redis) Stop() error {
	r.halt()
	return os.RemoveAll(r.dir)
}
