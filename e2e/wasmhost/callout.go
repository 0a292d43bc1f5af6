package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cluster is a callout target, looked up by the cluster name the filter passes to
// proxy_http_call.
type Cluster interface {
	RoundTrip(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error)
}

// ClusterFunc adapts a function to Cluster.
type ClusterFunc func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error)

func (f ClusterFunc) RoundTrip(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
	return f(ctx, req)
}

// CalloutRequest is what the filter sent: headers include :method, :path and :authority, keys
// lower-cased; content-length is set when there is a body, as Envoy does.
type CalloutRequest struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	Timeout  time.Duration // 0 = none
}

// CalloutResponse is what the cluster answered. Headers must include :status.
type CalloutResponse struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
}

// CalloutRecord is one proxy_http_call the filter made, and what was delivered back.
type CalloutRecord struct {
	Cluster  string
	Token    uint32
	Request  CalloutRequest
	Response *CalloutResponse // nil when the call failed (delivered as 0 headers); Envoy's own answer on a timeout or connect error
	Err      error            // why it failed: the cluster's error or the timeout
	Duration time.Duration
	// Delivered is false if the VM closed or failed before proxy_on_http_call_response ran.
	Delivered bool
}

// callout is an in-flight proxy_http_call. Everything but res/err/dur is owned by the VM lock;
// those three are written by the worker goroutine before it queues the callout.
type callout struct {
	token   uint32
	cluster Cluster
	rec     CalloutRecord
	stream  *Stream // the stream whose context made the call; nil for the root context
	res     *CalloutResponse
	err     error
	dur     time.Duration
}

// ErrCalloutTimeout is CalloutRecord.Err when the callout's timeout fired first. Envoy's router
// then answers the callout itself, 504 "upstream request timeout" (seen in Envoy 1.40).
var ErrCalloutTimeout = errors.New("wasmhost: callout timed out")

// ErrUpstreamConnect is for a Cluster to wrap when the call failed before any response header
// (connection refused or closed): Envoy's router answers such a callout itself with 503, seen
// in Envoy 1.40. Any other error from a Cluster is a reset after the headers, which Envoy
// delivers as a failed call with 0 headers.
var ErrUpstreamConnect = errors.New("wasmhost: upstream connect error")

// localReply is the answer Envoy's router makes up for a callout it could not complete.
func localReply(status int, body string) *CalloutResponse {
	return &CalloutResponse{
		Headers: [][2]string{{":status", strconv.Itoa(status)}, {"content-length", strconv.Itoa(len(body))}, {"content-type", "text/plain"}},
		Body:    []byte(body),
	}
}

// startCallout runs the call on its own goroutine; the result is queued on the VM and delivered
// to the guest only when the host pumps (see VM.pump), so delivery never races a callback.
func (vm *VM) startCallout(c *callout) {
	ctx, cancel := vm.ctx, context.CancelFunc(func() {})
	if c.rec.Request.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.rec.Request.Timeout)
	}
	req := c.rec.Request
	req.Headers = append([][2]string(nil), req.Headers...)
	req.Trailers = append([][2]string(nil), req.Trailers...)
	req.Body = append([]byte(nil), req.Body...)
	vm.inflight.Add(1)
	go func() {
		defer vm.inflight.Done()
		defer cancel()
		start := time.Now()
		type result struct {
			res *CalloutResponse
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := c.cluster.RoundTrip(ctx, &req)
			done <- result{res, err}
		}()
		// Envoy enforces the timeout itself, even against an upstream that never answers.
		select {
		case r := <-done:
			c.res, c.err = r.res, r.err
		case <-ctx.Done():
			c.err = ctx.Err()
		}
		if c.err == nil && c.res == nil {
			c.err = errors.New("wasmhost: cluster returned neither response nor error")
		}
		if c.err != nil {
			c.res = nil
			switch {
			case vm.ctx.Err() != nil:
				c.err = fmt.Errorf("wasmhost: VM closed: %w", c.err)
			case errors.Is(c.err, context.DeadlineExceeded):
				c.err = fmt.Errorf("%w after %v", ErrCalloutTimeout, req.Timeout)
				c.res = localReply(http.StatusGatewayTimeout, "upstream request timeout")
			case errors.Is(c.err, ErrUpstreamConnect):
				c.res = localReply(http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure")
			}
		}
		if c.res != nil {
			if _, ok := firstValue(lowerPairs(c.res.Headers), ":status"); !ok {
				c.res, c.err = nil, errors.New("wasmhost: cluster response has no :status")
			}
		}
		c.dur = time.Since(start)
		vm.queue(c)
	}()
}

// HTTPCluster sends callouts over real HTTP/1.1 to baseURL (scheme://host:port; the callout's
// :path is appended). :authority becomes the Host header. Redirects are not followed and no
// compression is negotiated, as with Envoy's async client.
func HTTPCluster(baseURL string) Cluster {
	u, err := url.Parse(baseURL)
	if err == nil && (u.Scheme == "" || u.Host == "") {
		err = fmt.Errorf("wasmhost: HTTPCluster needs scheme://host[:port], got %q", baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	return &httpCluster{base: u, err: err, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type httpCluster struct {
	base   *url.URL
	err    error
	client *http.Client
}

func (h *httpCluster) RoundTrip(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
	if h.err != nil {
		return nil, h.err
	}
	method, _ := firstValue(req.Headers, ":method")
	path, _ := firstValue(req.Headers, ":path")
	authority, _ := firstValue(req.Headers, ":authority")
	hr, err := http.NewRequestWithContext(ctx, method, h.base.Scheme+"://"+h.base.Host+path, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	hr.Host = authority
	hr.Header["User-Agent"] = []string{""} // Envoy adds none; an empty value stops Go adding one
	for _, p := range req.Headers {
		switch {
		case strings.HasPrefix(p[0], ":"):
		case p[0] == "content-length":
			if n, err := strconv.ParseInt(p[1], 10, 64); err == nil {
				hr.ContentLength = n
			}
		case p[0] == "host":
		default:
			hr.Header.Add(p[0], p[1])
		}
	}
	if len(req.Trailers) > 0 {
		hr.Trailer = http.Header{}
		for _, p := range req.Trailers {
			hr.Trailer.Add(p[0], p[1])
		}
		hr.ContentLength = -1
	}
	resp, err := h.client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUpstreamConnect, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err // a reset mid-body is a failed call in Envoy too
	}
	out := &CalloutResponse{Body: body, Headers: [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}}
	out.Headers = append(out.Headers, flatten(resp.Header)...)
	out.Trailers = flatten(resp.Trailer)
	return out, nil
}

// flatten turns a net/http header into lower-cased pairs in a stable order.
func flatten(h http.Header) [][2]string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][2]string
	for _, k := range keys {
		for _, v := range h[k] {
			out = append(out, [2]string{strings.ToLower(k), v})
		}
	}
	return out
}
