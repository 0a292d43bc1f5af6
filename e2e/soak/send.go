package soak

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// answerTimeout is how long a client waits for an answer: far past user_store.timeout_ms, so a
// request still unanswered then was lost.
const answerTimeout = 15 * time.Second

// newClient is one client address's connections to one replica: kept alive, never following
// redirects, sending exactly the headers it is given.
func newClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 2,
			DisableCompression:  true,
		},
		Timeout:       answerTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends the request and records the answer in it. A request once sent waits for its answer
// (up to answerTimeout) even when the soak's time is up.
func do(ctx context.Context, c *http.Client, base string, r *request) {
	ctx = context.WithoutCancel(ctx)
	var body io.Reader = http.NoBody
	if len(r.body) > 0 {
		body = bytes.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(bytes.NewReader(r.body)) // hides the length: sent chunked
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, body)
	if err != nil {
		r.err = err
		return
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if h := r.header.Get("host"); h != "" {
		req.Host = h
		req.Header.Del("host")
	}
	req.Header.Set("x-request-id", r.id)
	r.sent = time.Now()
	resp, err := c.Do(req)
	if err != nil {
		r.err, r.done = err, time.Now()
		return
	}
	defer func() { _ = resp.Body.Close() }()
	r.respBody, r.err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r.status, r.respHeader, r.done = resp.StatusCode, resp.Header, time.Now()
}

// hangup sends a verify POST over its own connection and leaves: after half the body, right
// after the whole body, or while the filter waits for the store (up to wait).
func hangup(ip, hostport string, r *request, variant int, wait time.Duration) {
	r.sent = time.Now()
	defer func() { r.done = time.Now() }()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", hostport)
	if err != nil {
		r.err = err
		return
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nhost: %s\r\n", r.method, r.path, hostport)
	for k, vs := range r.header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&head, "x-request-id: %s\r\ncontent-length: %s\r\n\r\n", r.id, strconv.Itoa(len(r.body)))
	body := r.body
	if variant == 0 {
		body = body[:len(body)/2]
	}
	_, _ = conn.Write(append([]byte(head.String()), body...))
	if variant == 2 {
		time.Sleep(wait)
	}
	if tc, ok := conn.(*net.TCPConn); ok && variant != 1 {
		_ = tc.SetLinger(0) // a reset, as from a client that crashed
	}
	_ = conn.Close()
}
