package wasmhost

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestBufferedBodyWithStopIteration(t *testing.T) {
	ctx := context.Background()
	// Headers: StopIteration. Body: StopIterationAndBuffer until the end, then Continue.
	vm := probe(t, Config{}, "headers", "1", "body", "1", "body_eos", "0")
	s, err := vm.NewStream(Request{Method: "POST", Path: "/v"})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.SendHeaders(ctx, false); err != nil || a != HeadersStopIteration {
		t.Fatalf("headers: %v %v", a, err)
	}
	for i, chunk := range []string{"hello", " worl", "d!"} {
		if snap := s.Snapshot(); snap.Headers != nil || len(snap.Body) > 0 || !snap.Paused {
			t.Fatalf("before chunk %d something went upstream: %v", i, snap)
		}
		a, err := s.SendBody(ctx, []byte(chunk), i == 2)
		want := DataStopIterationAndBuffer
		if i == 2 {
			want = DataContinue
		}
		if err != nil || a != want {
			t.Fatalf("chunk %d: %v %v", i, a, err)
		}
	}
	res, err := s.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Forwarded || string(res.Body) != "hello world!" || res.Paused {
		t.Errorf("result %v", res)
	}
	if p, _ := header(res.Headers, ":path"); p != "/v" {
		t.Errorf("forwarded headers %v", res.Headers)
	}
	// Each body callback saw everything buffered so far, and the headers stayed readable.
	want := []string{
		`body chunk=0 size=5 eos=0 got="hello" status=0 headers_status=0`,
		`body chunk=1 size=10 eos=0 got="hello worl" status=0 headers_status=0`,
		`body chunk=2 size=12 eos=1 got="hello world!" status=0 headers_status=0`,
	}
	if got := logsWith(vm, "body chunk"); !slices.Equal(got, want) {
		t.Errorf("body callbacks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBodyActionsOtherThanBuffer(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, body string
		sizes      []int
		forwarded  string
	}{
		// Continue per chunk: each callback sees only its chunk; everything streams upstream.
		{"continue", "0", []int{4, 4, 2}, "aaaabbbbcc"},
		// Watermark: Envoy buffers, but the filter is shown only the new data.
		{"watermark", "2", []int{4, 4, 2}, "aaaabbbbcc"},
		// NoBuffer: the chunks the filter stopped on are dropped.
		{"nobuffer", "3", []int{4, 4, 2}, "cc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := probe(t, Config{}, "headers", "1", "body", tc.body, "body_eos", "0")
			res, err := vm.Do(ctx, Request{Method: "POST", Body: []byte("aaaabbbbcc"), ChunkSize: 4})
			if err != nil || !res.Forwarded || string(res.Body) != tc.forwarded {
				t.Fatalf("%v %v", res, err)
			}
			var sizes []int
			for _, l := range logsWith(vm, "body chunk") {
				var chunk, size int
				if _, err := fmt.Sscanf(l, "body chunk=%d size=%d", &chunk, &size); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				sizes = append(sizes, size)
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("body sizes %v, want %v", sizes, tc.sizes)
			}
		})
	}
}

func TestHeadersContinueHidesRequestHeaders(t *testing.T) {
	// Envoy drops request_headers_ once the headers callback returns Continue.
	vm := probe(t, Config{})
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte("x")})
	if err != nil || !res.Forwarded {
		t.Fatal(res, err)
	}
	if got := logsWith(vm, "body chunk=0"); len(got) != 1 || !strings.HasSuffix(got[0], "headers_status=2") {
		t.Errorf("request headers readable after Continue: %q", got)
	}
	// In proxy_on_log they are readable again (the access log's view); no response: NotFound.
	if got := logsWith(vm, "log ctx="); len(got) != 1 || !strings.Contains(got[0], "path=//0 response=/1") {
		t.Errorf("log phase: %q", got)
	}
}

func TestWithoutAllowOnHeadersStopIteration(t *testing.T) {
	// Plain Envoy turns StopIteration into StopAllIterationAndWatermark: no body callback runs
	// until the filter continues, which this one never does.
	vm := probe(t, Config{DisallowOnHeadersStopIteration: true}, "headers", "1", "body", "1")
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte("abcdef"), ChunkSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Paused || res.Forwarded || len(logsWith(vm, "body chunk")) != 0 {
		t.Errorf("result %v, body logs %q", res, logsWith(vm, "body chunk"))
	}
}

func TestBodyAndHeaderChanges(t *testing.T) {
	vm := probe(t, Config{}, "headers", "1", "body", "1", "set_body", "REPLACED", "append_body", "+tail",
		"hdr_at", "eos", "hdr_ops", "add:X-Added:1,replace:x-repl:new,remove:x-gone")
	res, err := vm.Do(context.Background(), Request{
		Method: "POST", Body: []byte("original body"), ChunkSize: 3,
		Headers: [][2]string{{"X-Repl", "old"}, {"x-gone", "1"}, {"x-repl", "old2"}, {"x-kept", "k"}},
	})
	if err != nil || !res.Forwarded {
		t.Fatal(res, err)
	}
	if string(res.Body) != "REPLACED+tail" {
		t.Errorf("forwarded body %q", res.Body)
	}
	if got := logsWith(vm, "set_body status="); len(got) != 1 || got[0] != "set_body status=0" {
		t.Errorf("set_body: %q", got)
	}
	for k, want := range map[string]string{"x-added": "1", "x-repl": "new", "x-kept": "k"} {
		if v, _ := header(res.Headers, k); v != want {
			t.Errorf("%s = %q, want %q (headers %v)", k, v, want, res.Headers)
		}
	}
	if _, ok := header(res.Headers, "x-gone"); ok {
		t.Error("x-gone was forwarded")
	}
	n := 0
	for _, p := range res.Headers {
		if p[0] == "x-repl" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("replace left %d x-repl headers", n)
	}
	if v, _ := header(res.Headers, "x-request-id"); len(v) != 36 {
		t.Errorf("no generated x-request-id: %v", res.Headers)
	}
}

func TestLocalResponseStopsCallbacks(t *testing.T) {
	ctx := context.Background()
	vm := probe(t, Config{}, "headers", "1", "body", "1", "local", "body1", "local_status", "429")
	res, err := vm.Do(ctx, Request{Method: "POST", Body: []byte("aaaabbbbcccc"), ChunkSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(logsWith(vm, "body chunk")); n != 2 {
		t.Errorf("%d body callbacks, want 2 (none after the local reply)", n)
	}
	l := res.Local
	if l == nil || res.Forwarded || res.Paused || res.Headers != nil {
		t.Fatalf("result %v", res)
	}
	if l.Status != 429 || string(l.Body) != "probe local body1" || l.Details != "probe_said_no" {
		t.Errorf("local reply %+v", l)
	}
	// Headers are lower-cased; Envoy adds content-length and a default content-type; the
	// filter's own response callbacks ran on the reply and could change it.
	for k, want := range map[string]string{"x-probe": "local", "content-length": "17", "content-type": "text/plain", "x-probe-response": "seen"} {
		if v, _ := header(l.Headers, k); v != want {
			t.Errorf("local reply header %s = %q, want %q (%v)", k, v, want, l.Headers)
		}
	}
	if got := logsWith(vm, "response_body"); len(got) != 1 || !strings.Contains(got[0], `body="probe local body1"`) {
		t.Errorf("response body callback: %q", got)
	}
	if got := logsWith(vm, "log ctx="); len(got) != 1 || !strings.HasSuffix(got[0], "response=429/0") {
		t.Errorf("proxy_on_log did not see the reply: %q", got)
	}

	// A local reply from the headers callback: no body callback at all.
	vm = probe(t, Config{}, "local", "headers")
	res, err = vm.Do(ctx, Request{Method: "POST", Body: []byte("aaaa"), ChunkSize: 1})
	if err != nil || res.Local == nil || res.Local.Status != 403 || len(logsWith(vm, "body chunk")) != 0 {
		t.Errorf("%v %v %q", res, err, logsWith(vm, "body"))
	}
}

func TestBufferLimit(t *testing.T) {
	vm := probe(t, Config{BufferLimit: 8}, "headers", "1", "body", "1")
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte("0123456789abcdef"), ChunkSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Local == nil || res.Local.Status != 413 || res.Local.Details != "request_payload_too_large" {
		t.Fatalf("result %v", res)
	}
	if n := len(logsWith(vm, "body chunk")); n != 1 {
		t.Errorf("%d body callbacks, want 1: Envoy answers before handing over more than the limit", n)
	}
}

func TestTrailers(t *testing.T) {
	vm := probe(t, Config{}, "headers", "1", "body", "1", "trailers", "0")
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte("abcd"), ChunkSize: 2, Trailers: [][2]string{{"X-Trailer", "t1"}}})
	if err != nil || !res.Forwarded || string(res.Body) != "abcd" {
		t.Fatal(res, err)
	}
	if v, _ := header(res.Trailers, "x-trailer"); v != "t1" {
		t.Errorf("trailers %v", res.Trailers)
	}
	if got := logsWith(vm, "body chunk=1"); len(got) != 1 || !strings.Contains(got[0], "eos=0") {
		t.Errorf("the last chunk before trailers must not be end of stream: %q", got)
	}
	if got := logsWith(vm, "trailers n=1 x-trailer=t1 status=0"); len(got) != 1 {
		t.Errorf("trailers callback: %q", logsWith(vm, "trailers"))
	}
}

func TestPausedStreamIsReported(t *testing.T) {
	vm := probe(t, Config{}, "headers", "1", "body", "1", "body_eos", "1")
	res, err := vm.Do(context.Background(), Request{Method: "POST", Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Paused || res.Forwarded || res.Local != nil {
		t.Errorf("a filter that never continues must show as Paused: %v", res)
	}
}

// TestUpstreamResponse: a forwarded request's answer goes through the filter's response
// headers callback, which may change it, and proxy_on_log sees the answer.
func TestUpstreamResponse(t *testing.T) {
	ctx := context.Background()
	vm := probe(t, Config{})
	var seen *Result
	res, err := vm.Do(ctx, Request{Method: "GET", Path: "/up", Upstream: func(_ context.Context, fwd *Result) (*UpstreamResponse, error) {
		seen = fwd
		return &UpstreamResponse{Status: 201, Headers: [][2]string{{"x-up", "1"}}, Body: []byte("hi")}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || !seen.Forwarded {
		t.Fatalf("upstream saw %v", seen)
	}
	r := res.Response
	if r == nil || r.Status != 201 || string(r.Body) != "hi" {
		t.Fatalf("response %+v", r)
	}
	for k, want := range map[string]string{"x-up": "1", "x-probe-response": "seen"} {
		if v, _ := header(r.Headers, k); v != want {
			t.Errorf("header %s = %q, want %q (%v)", k, v, want, r.Headers)
		}
	}
	if got := logsWith(vm, "response_headers"); len(got) != 1 || !strings.Contains(got[0], "eos=0 status=201") {
		t.Errorf("response headers callback: %q", got)
	}
	if got := logsWith(vm, "log ctx="); len(got) != 1 || !strings.HasSuffix(got[0], "response=201/0") {
		t.Errorf("proxy_on_log did not see the answer: %q", got)
	}
}
