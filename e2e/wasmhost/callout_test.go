package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func pong(status string) Cluster {
	return ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		return &CalloutResponse{Headers: [][2]string{{":status", status}, {"x-answer", "42"}}, Body: []byte("pong")}, nil
	})
}

var pseudo = []string{"ch", ":method|POST", "ch", ":path|/check", "ch", ":authority|store.internal"}

func calloutProbe(t *testing.T, cfg Config, kv ...string) *VM {
	t.Helper()
	return probe(t, cfg, append(append([]string{"callout_cluster", "store"}, kv...), pseudoKV()...)...)
}

func pseudoKV() []string { return append([]string(nil), pseudo...) }

func TestCalloutBadArgument(t *testing.T) {
	ctx := context.Background()
	clusters := map[string]Cluster{"store": pong("200")}
	for name, kv := range map[string][]string{
		"unknown cluster":    {"callout_at", "headers", "callout_cluster", "nope", "ch", ":method|GET", "ch", ":path|/", "ch", ":authority|a"},
		"missing :authority": {"callout_at", "headers", "callout_cluster", "store", "ch", ":method|GET", "ch", ":path|/"},
		"missing :path":      {"callout_at", "headers", "callout_cluster", "store", "ch", ":method|GET", "ch", ":authority|a"},
		"missing :method":    {"callout_at", "headers", "callout_cluster", "store", "ch", ":path|/", "ch", ":authority|a"},
		"host is not :authority": {"callout_at", "headers", "callout_cluster", "store", "ch", ":method|GET", "ch", ":path|/",
			"ch", "host|a"},
	} {
		t.Run(name, func(t *testing.T) {
			vm := probe(t, Config{Clusters: clusters}, kv...)
			res, err := vm.Do(ctx, Request{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Local == nil || string(res.Local.Body) != "http_call=2" || len(res.Callouts) != 0 {
				t.Errorf("result %v", res)
			}
		})
	}
}

func TestCalloutDelivered(t *testing.T) {
	ctx := context.Background()
	var got *CalloutRequest
	store := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		got = req
		return &CalloutResponse{Headers: [][2]string{{":status", "201"}, {"X-Answer", "42"}}, Body: []byte("pong")}, nil
	})
	vm := calloutProbe(t, Config{Clusters: map[string]Cluster{"store": store}},
		"headers", "1", "callout_at", "headers", "callout_body", "ping", "callout_timeout", "750", "ch", "X-Mixed|v")
	res, err := vm.Do(ctx, Request{Path: "/orig"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Local == nil || string(res.Local.Body) != "status=201 headers=2 body=pong" {
		t.Fatalf("result %v", res)
	}
	if len(res.Callouts) != 1 {
		t.Fatalf("callouts %+v", res.Callouts)
	}
	rec := res.Callouts[0]
	if rec.Cluster != "store" || !rec.Delivered || rec.Err != nil || rec.Response == nil || rec.Request.Timeout != 750*time.Millisecond {
		t.Errorf("record %+v", rec)
	}
	if string(got.Body) != "ping" || got.Timeout != 750*time.Millisecond {
		t.Errorf("cluster got %+v", got)
	}
	for k, want := range map[string]string{":method": "POST", ":path": "/check", ":authority": "store.internal", "content-length": "4", "x-mixed": "v"} {
		if v, _ := header(got.Headers, k); v != want {
			t.Errorf("callout header %s = %q, want %q (%v)", k, v, want, got.Headers)
		}
	}
	// The response is delivered to the root context; the root cannot see the stream's headers
	// until the guest selects the stream with proxy_set_effective_context (as the SDK does).
	want := "path_before=2 effective=0 path_after=0 bogus=2"
	if l := logsWith(vm, "callout_response"); len(l) != 1 || !strings.Contains(l[0], "root=1 ") || !strings.Contains(l[0], want) {
		t.Errorf("callout response log %q, want %q", l, want)
	}
}

func TestCalloutFailures(t *testing.T) {
	ctx := context.Background()
	hang := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		time.Sleep(2 * time.Second) // ignores ctx: Envoy's timeout must still fire on time
		return &CalloutResponse{Headers: [][2]string{{":status", "200"}}}, nil
	})
	refused := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		return nil, fmt.Errorf("%w: connection refused", ErrUpstreamConnect)
	})
	reset := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		return nil, errors.New("connection reset mid-body")
	})
	noStatus := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		return &CalloutResponse{Body: []byte("x")}, nil
	})
	// As Envoy 1.40 delivers them: its router answers a timeout and a connect failure itself;
	// a reset after the headers, or an answer without :status, arrives with 0 headers.
	for name, c := range map[string]struct {
		cluster Cluster
		want    string
	}{
		"timeout":    {hang, "status=504 headers=3 body=upstream request timeout"},
		"refused":    {refused, "status=503 headers=3 body=upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"},
		"reset":      {reset, "status=none headers=0 body="},
		"no :status": {noStatus, "status=none headers=0 body="},
	} {
		t.Run(name, func(t *testing.T) {
			vm := calloutProbe(t, Config{Clusters: map[string]Cluster{"store": c.cluster}}, "headers", "1", "callout_at", "headers", "callout_timeout", "50")
			start := time.Now()
			res, err := vm.Do(ctx, Request{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Local == nil || string(res.Local.Body) != c.want {
				t.Fatalf("got %v, want %q", res, c.want)
			}
			rec := res.Callouts[0]
			if rec.Err == nil || !rec.Delivered {
				t.Errorf("record %+v", rec)
			}
			if name == "timeout" {
				if !errors.Is(rec.Err, ErrCalloutTimeout) {
					t.Errorf("err %v, want ErrCalloutTimeout", rec.Err)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("the 50 ms timeout took %v", d)
				}
			}
		})
	}
}

func TestCalloutThenContinue(t *testing.T) {
	// The forward pattern: pause on headers, buffer the body, call out at the end, then in the
	// response rewrite headers and the buffered body and continue the stream.
	vm := calloutProbe(t, Config{Clusters: map[string]Cluster{"store": pong("200")}},
		"headers", "1", "body", "1", "body_eos", "1", "callout_at", "eos", "callout_then", "continue",
		"callout_set_body", "rewritten", "hdr_at", "callout", "hdr_ops", "add:x-identity:u1,remove:x-secret")
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte(`{"otp":"123"}`), ChunkSize: 4,
		Headers: [][2]string{{"x-secret", "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Forwarded || res.Paused || string(res.Body) != "rewritten" {
		t.Fatalf("result %v", res)
	}
	if v, _ := header(res.Headers, "x-identity"); v != "u1" {
		t.Errorf("headers %v", res.Headers)
	}
	if _, ok := header(res.Headers, "x-secret"); ok {
		t.Errorf("x-secret forwarded: %v", res.Headers)
	}
	if got := logsWith(vm, "callout_set_body had="); len(got) != 1 || !strings.Contains(got[0], `had="{\"otp\":\"123\"}" status=0`) {
		t.Errorf("the callout callback must see the whole buffered body: %q", got)
	}
	if got := logsWith(vm, "continue="); !slices.Equal(got, []string{"continue=0"}) {
		t.Errorf("continue: %q", got)
	}
}

func TestCalloutAfterLocalReplyReachesRoot(t *testing.T) {
	// Envoy ends the stream at once on a local reply; a callout still in flight is answered
	// later to the root context, after proxy_on_delete of the stream.
	release := make(chan struct{})
	slow := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		<-release
		return &CalloutResponse{Headers: [][2]string{{":status", "200"}}}, nil
	})
	vm := calloutProbe(t, Config{Clusters: map[string]Cluster{"store": slow}}, "callout_at", "headers", "local", "headers")
	go func() { time.Sleep(20 * time.Millisecond); close(release) }()
	res, err := vm.Do(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Local == nil || res.Local.Status != 403 || len(res.Callouts) != 1 || !res.Callouts[0].Delivered {
		t.Fatalf("result %v %+v", res, res.Callouts)
	}
	var order []string
	for _, l := range vm.Logs() {
		if f := strings.Fields(l.Msg)[0]; f == "delete" || f == "callout_response" {
			order = append(order, f)
		}
	}
	if !slices.Equal(order, []string{"delete", "callout_response"}) {
		t.Errorf("order %v", order)
	}
	if l := logsWith(vm, "callout_response"); !strings.Contains(l[0], "effective=2") {
		t.Errorf("the deleted stream context must not be selectable: %q", l)
	}
}

func TestHTTPCluster(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/check" || r.URL.RawQuery != "a=1" || r.Host != "store.internal" ||
			string(body) != "ping" || r.Header.Get("X-Mixed") != "v" || r.UserAgent() != "" || r.ContentLength != 4 {
			t.Errorf("upstream got %s %s host=%s ua=%q headers=%v body=%q", r.Method, r.URL, r.Host, r.UserAgent(), r.Header, body)
		}
		w.Header().Set("X-Answer", "42")
		w.WriteHeader(202)
		_, _ = io.WriteString(w, "pong")
	}))
	defer srv.Close()
	kv := []string{"callout_cluster", "store", "headers", "1", "callout_at", "headers", "callout_body", "ping",
		"ch", ":method|POST", "ch", ":path|/check?a=1", "ch", ":authority|store.internal", "ch", "x-mixed|v"}
	vm := probe(t, Config{Clusters: map[string]Cluster{"store": HTTPCluster(srv.URL)}}, kv...)
	res, err := vm.Do(context.Background(), Request{})
	if err != nil || hits.Load() != 1 {
		t.Fatal(res, err)
	}
	if res.Local == nil || !strings.HasPrefix(string(res.Local.Body), "status=202 headers=") || !strings.HasSuffix(string(res.Local.Body), "body=pong") {
		t.Fatalf("result %v", res)
	}
	if v, _ := header(res.Callouts[0].Response.Headers, "x-answer"); v != "42" {
		t.Errorf("response headers %v", res.Callouts[0].Response.Headers)
	}

	// A closed port: Envoy's router answers 503 itself, as Envoy 1.40 does (TestStoreDown in
	// e2e/envoye2e sees the filter get an answer that is not JSON, not a failed call).
	srv.Close()
	vm = probe(t, Config{Clusters: map[string]Cluster{"store": HTTPCluster(srv.URL)}}, kv...)
	res, err = vm.Do(context.Background(), Request{})
	if err != nil || res.Local == nil || !strings.HasPrefix(string(res.Local.Body), "status=503 headers=3 body=upstream connect error") {
		t.Fatalf("refused: %v %v", res, err)
	}
}

func TestStopAllThenContinueDeliversHeldBody(t *testing.T) {
	// Without allow_on_headers_stop_iteration Envoy holds the body; when the filter continues,
	// the headers go upstream and the filter then gets everything held in one body callback.
	vm := calloutProbe(t, Config{DisallowOnHeadersStopIteration: true, Clusters: map[string]Cluster{"store": pong("200")}},
		"headers", "1", "callout_at", "headers", "callout_then", "continue")
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte("abcdef"), ChunkSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Forwarded || string(res.Body) != "abcdef" {
		t.Fatalf("result %v", res)
	}
	want := []string{`body chunk=0 size=6 eos=1 got="abcdef" status=0 headers_status=2`}
	if got := logsWith(vm, "body chunk"); !slices.Equal(got, want) {
		t.Errorf("body callbacks %q, want %q", got, want)
	}
}

func TestDoDeadlineLeavesVMAlive(t *testing.T) {
	// timeout_ms 0 means no callout timeout in Envoy: only the caller's deadline ends the wait,
	// and it must not kill the VM.
	hang := ClusterFunc(func(ctx context.Context, req *CalloutRequest) (*CalloutResponse, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	vm := calloutProbe(t, Config{Clusters: map[string]Cluster{"store": hang}}, "headers", "1", "callout_at", "headers", "callout_timeout", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := vm.Do(ctx, Request{})
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || !res.Paused {
		t.Fatalf("Do: %v %v", res, err)
	}
	if res.Callouts != nil {
		t.Errorf("undelivered callouts reported: %+v", res.Callouts)
	}
	if err := vm.Err(); err != nil {
		t.Fatalf("the VM died: %v", err)
	}
	if err := vm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
