package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// maxBufferedBody is Envoy's default per-connection buffer limit. The front reads one byte
// more, so the filter (or the host, on Envoy's behalf) sees that a body is too large and
// answers 413 itself.
const maxBufferedBody = 1 << 20

// front plays Envoy's HTTP connection manager and router: each request goes through the
// filter on one of the VMs, then is answered locally or proxied to the upstream.
type front struct {
	vms      []*wasmhost.VM
	next     atomic.Uint64
	upstream *url.URL
	client   *http.Client
	log      *slog.Logger
	access   io.Writer // the access log
}

// NewFront is the front on its own, for a harness that runs its own VMs (e2e/soak): requests go
// round robin over vms, what the filter lets through goes to upstreamURL, and an access line
// per request goes to access.
func NewFront(vms []*wasmhost.VM, upstreamURL string, log *slog.Logger, access io.Writer) (http.Handler, error) {
	return newFront(vms, upstreamURL, log, access)
}

func newFront(vms []*wasmhost.VM, upstreamURL string, log *slog.Logger, access io.Writer) (*front, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil               // the upstream is on loopback; never go through an HTTP proxy
	tr.DisableCompression = true // pass the client's accept-encoding through untouched, as Envoy does
	return &front{vms: vms, upstream: u, log: log, access: access, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
	if err != nil {
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	// Round robin, like connections spread over Envoy's workers.
	i := f.next.Add(1) % uint64(len(f.vms))
	var upErr error
	res, err := f.vms[i].Do(r.Context(), wasmhost.Request{
		Method:        r.Method,
		Path:          requestPath(r),
		Authority:     r.Host,
		Headers:       requestHeaders(r),
		Body:          body,
		SourceAddress: r.RemoteAddr,
		// The upstream's answer goes back through the filter, as in Envoy (CORS, SPEC 13).
		Upstream: func(ctx context.Context, fwd *wasmhost.Result) (*wasmhost.UpstreamResponse, error) {
			if len(body) > maxBufferedBody {
				upErr = errBodyOverBuffer
				return nil, upErr
			}
			resp, err := f.proxy(ctx, r, fwd)
			upErr = err
			return resp, err
		},
	})
	if err == nil {
		f.accessLog(r, res)
	}
	switch {
	case errors.Is(upErr, errBodyOverBuffer):
		// The filter let it through, but this front buffers whole bodies and cut this one short.
		http.Error(w, "request body over the local front's 1 MiB buffer", http.StatusRequestEntityTooLarge)
	case upErr != nil:
		if !errors.Is(upErr, r.Context().Err()) {
			f.log.Error("upstream request failed", "error", upErr)
		}
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	case err != nil:
		f.log.Error("filter failed", "worker", i, "error", err)
		http.Error(w, "the filter failed (see the log)", http.StatusInternalServerError)
	case res.Local != nil:
		writeLocal(w, res.Local)
	case res.Reset:
		panic(http.ErrAbortHandler) // the filter reset the stream: the client sees a closed connection
	case !res.Forwarded || res.Response == nil:
		f.log.Error("filter neither answered nor forwarded the request", "worker", i, "path", r.URL.Path)
		http.Error(w, "the filter held the request", http.StatusInternalServerError)
	default:
		for _, p := range res.Response.Headers {
			w.Header().Add(p[0], p[1])
		}
		w.WriteHeader(int(res.Response.Status))
		_, _ = w.Write(res.Response.Body) // a failed write means the client has gone
	}
}

// accessLog writes the request's line the way envoy/local.yaml's access log does, ending with
// the filter's record (SPEC 10), "-" where it set none; :path is as the filter left it.
func (f *front) accessLog(r *http.Request, res *wasmhost.Result) {
	status := uint32(0)
	switch {
	case res.Local != nil:
		status = res.Local.Status
	case res.Response != nil:
		status = res.Response.Status
	}
	path := ""
	for _, kv := range res.RequestHeaders {
		if kv[0] == ":path" {
			path = kv[1]
		}
	}
	record := "-"
	if v, ok := res.FilterState["wasm."+filter.RecordProperty]; ok {
		record = string(v)
	}
	_, _ = fmt.Fprintf(f.access, "[%s] %q %d passwordless_verify=%s\n",
		time.Now().Format(time.RFC3339Nano), r.Method+" "+path, status, record)
}

var errBodyOverBuffer = errors.New("request body over the front's buffer")

// requestPath is :path as sent, query included.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// requestHeaders are the request's headers as Envoy hands them to filters: lower-cased names
// (net/http moved Host to r.Host, and the wasm host adds :authority from it).
func requestHeaders(r *http.Request) [][2]string {
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][2]string
	for _, k := range keys {
		for _, v := range r.Header[k] {
			out = append(out, [2]string{strings.ToLower(k), v})
		}
	}
	return out
}

func writeLocal(w http.ResponseWriter, l *wasmhost.LocalResponse) {
	h := w.Header()
	for _, p := range l.Headers {
		if strings.HasPrefix(p[0], ":") || p[0] == "content-length" {
			continue
		}
		h.Add(p[0], p[1])
	}
	h.Set("Content-Length", strconv.Itoa(len(l.Body)))
	w.WriteHeader(int(l.Status))
	_, _ = w.Write(l.Body) // a failed write means the client has gone
}

// proxy sends what the filter let through (its headers and body, not the client's) to the
// upstream, and returns the whole answer.
func (f *front) proxy(ctx context.Context, r *http.Request, res *wasmhost.Result) (*wasmhost.UpstreamResponse, error) {
	method, path, authority := r.Method, requestPath(r), r.Host
	hdr := http.Header{}
	for _, p := range res.Headers {
		switch p[0] {
		case ":method":
			method = p[1]
		case ":path":
			path = p[1]
		case ":authority":
			authority = p[1]
		case "content-length", "host":
			// net/http sets both from the request itself.
		default:
			if !strings.HasPrefix(p[0], ":") {
				hdr.Add(p[0], p[1])
			}
		}
	}
	removeHopByHop(hdr)
	target := *f.upstream
	ref, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, err
	}
	target.Path, target.RawPath, target.RawQuery = ref.Path, ref.RawPath, ref.RawQuery
	out, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(res.Body))
	if err != nil {
		return nil, err
	}
	out.Host = authority
	out.Header = hdr
	if _, ok := hdr["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // keep Go from adding its own
	}
	if len(res.Body) == 0 {
		out.Body, out.ContentLength = http.NoBody, 0
	}
	resp, err := f.client.Do(out) //nolint:gosec // G704: the host is always the stack's own loopback upstream; only the path comes from the request
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEchoBody+1))
	if err != nil {
		return nil, err
	}
	removeHopByHop(resp.Header)
	up := &wasmhost.UpstreamResponse{Status: uint32(resp.StatusCode), Body: body} //nolint:gosec // G115: net/http accepts only 3-digit status codes
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue // net/http sets it from the body
		}
		for _, v := range vs {
			up.Headers = append(up.Headers, [2]string{strings.ToLower(k), v})
		}
	}
	return up, nil
}

// removeHopByHop drops the connection-specific headers a proxy must not pass on (RFC 9110
// section 7.6.1), including those the Connection header names.
func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		h.Del(name)
	}
}
