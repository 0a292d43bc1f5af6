package filter

import (
	"slices"
	"strings"
	"testing"
	"unsafe"
)

const verifyBody = `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`

func verifyRequest(body string) *fakeHost {
	return &fakeHost{
		headers: [][2]string{{":method", "POST"}, {":path", "/passwordless/verify"}, {":authority", "acme.auth.example.com"},
			{"content-type", "application/json"}, {"x-request-id", "r-1"}},
		body: []byte(body),
	}
}

func startStream(p *Plugin, host *fakeHost) *Stream {
	s := &Stream{}
	s.Init(p, host)
	return s
}

// want checks what the stream did to the request so far, leaving out log lines.
func wantActs(t *testing.T, host *fakeHost, want ...string) {
	t.Helper()
	got := slices.DeleteFunc(slices.Clone(host.acts), func(a string) bool { return strings.HasPrefix(a, "log ") })
	if !slices.Equal(got, want) {
		t.Fatalf("the stream did %q, want %q", got, want)
	}
}

func wantAction(t *testing.T, got, want Action) {
	t.Helper()
	if got != want {
		t.Fatalf("action %d, want %d", got, want)
	}
}

// TestStreamPausesUntilTheStoreAnswers: a verify request is held from its headers to the
// store's answer, whatever callbacks come meanwhile, and answered once.
func TestStreamPausesUntilTheStoreAnswers(t *testing.T) {
	p := newTestPlugin(t, "", "")
	host := verifyRequest(verifyBody)
	host.headers = append(host.headers, [2]string{"x-passwordless-user-id", "forged"})
	s := startStream(p, host)
	wantAction(t, s.OnRequestHeaders(false), Pause)
	wantAction(t, s.OnRequestBody(10, false), Pause)
	wantActs(t, host, "remove x-passwordless-user-id")
	host.acts = nil
	wantAction(t, s.OnRequestBody(len(verifyBody), true), Pause)
	wantActs(t, host, "call userstore")
	if !strings.Contains(host.calls[0].body, `"step":"verify"`) {
		t.Fatalf("store request %s", host.calls[0].body)
	}
	// Callbacks while the call runs hold the request.
	wantAction(t, s.OnRequestBody(len(verifyBody), true), Pause)
	wantAction(t, s.OnRequestTrailers(), Pause)
	wantActs(t, host, "call userstore")

	host.reply("200", `{"user_id":"u-1"}`)
	wantActs(t, host, "call userstore", "send 200")
	if a := host.sent[0]; a.body != `{"user_id":"u-1"}` {
		t.Fatalf("answer %+v", a)
	}
	// A repeated answer finds the request answered, and so does any later callback.
	host.reply("401", `{"error":"invalid_user_password"}`)
	wantAction(t, s.OnRequestTrailers(), Pause)
	wantAction(t, s.OnResponseHeaders(), Continue)
	wantActs(t, host, "call userstore", "send 200")
}

// TestStreamForwardResumesOnce: in forward mode the request goes on only after the store's
// 200, with the identity headers and without the code, and is then left alone.
func TestStreamForwardResumesOnce(t *testing.T) {
	p := newTestPlugin(t, `"on_success": {`, `"on_success": {"mode": "forward", `)
	host := verifyRequest(verifyBody)
	host.headers = append(host.headers, [2]string{"origin", "https://app.example.com"}, [2]string{":scheme", "https"})
	s := startStream(p, host)
	wantAction(t, s.OnRequestHeaders(false), Pause)
	wantAction(t, s.OnRequestBody(len(verifyBody), true), Pause)
	host.acts = nil
	host.reply("200", `{"user_id":"u-1"}`)
	wantActs(t, host, "set x-passwordless-user-id", "set x-passwordless-tenant", "set body", "set content-length", "resume")
	if strings.Contains(string(host.body), "123456") || !strings.Contains(string(host.body), `"client_id"`) {
		t.Fatalf("forwarded body %s", host.body)
	}
	wantAction(t, s.OnRequestBody(len(host.body), true), Continue)
	wantAction(t, s.OnRequestTrailers(), Continue)
	wantAction(t, s.OnResponseHeaders(), Continue)
	wantActs(t, host, "set x-passwordless-user-id", "set x-passwordless-tenant", "set body", "set content-length", "resume",
		"set response access-control-allow-origin", "set response vary")
	n := len(host.acts)
	host.reply("200", `{"user_id":"u-2"}`)
	if len(host.acts) != n {
		t.Fatalf("a repeated answer acted: %q", host.acts)
	}
}

// TestStreamAnswersLater: two requests' calls answered in the other order each get their
// own answer.
func TestStreamAnswersLater(t *testing.T) {
	p := newTestPlugin(t, "", "")
	hostA := verifyRequest(verifyBody)
	hostB := verifyRequest(strings.Replace(verifyBody, "a@example.com", "b@example.com", 1))
	a, b := startStream(p, hostA), startStream(p, hostB)
	for _, x := range []struct {
		s    *Stream
		host *fakeHost
	}{{a, hostA}, {b, hostB}} {
		wantAction(t, x.s.OnRequestHeaders(false), Pause)
		wantAction(t, x.s.OnRequestBody(len(x.host.body), true), Pause)
	}
	hostB.reply("401", `{"error":"invalid_user_password"}`)
	if len(hostA.sent) != 0 || len(hostB.sent) != 1 || hostB.sent[0].status != 401 {
		t.Fatalf("after B's answer: A sent %+v, B sent %+v", hostA.sent, hostB.sent)
	}
	hostA.reply("200", `{"user_id":"a"}`)
	if len(hostA.sent) != 1 || hostA.sent[0].status != 200 || len(hostB.sent) != 1 {
		t.Fatalf("after A's answer: A sent %+v, B sent %+v", hostA.sent, hostB.sent)
	}
}

// TestStreamClientLeavesMidCall: once the client is gone the stream does nothing more, and
// the attempt it took stays taken (SPEC 7): with max_attempts 1 the next attempt for the key
// gets 429 without a store call.
func TestStreamClientLeavesMidCall(t *testing.T) {
	p := newTestPlugin(t, `"user_store"`, `"attack_protection": {"max_attempts": 1}, "user_store"`)
	host := verifyRequest(verifyBody)
	s := startStream(p, host)
	s.OnRequestHeaders(false)
	s.OnRequestBody(len(verifyBody), true)
	host.gone = true
	n := len(host.acts)
	host.reply("401", `{"error":"invalid_user_password"}`)
	if len(host.acts) != n {
		t.Fatalf("the stream acted after the client left: %q", host.acts[n:])
	}
	next := verifyRequest(verifyBody)
	s = startStream(p, next)
	s.OnRequestHeaders(false)
	s.OnRequestBody(len(verifyBody), true)
	if len(next.calls) != 0 || len(next.sent) != 1 || next.sent[0].status != 429 {
		t.Fatalf("next attempt: calls %d, sent %+v", len(next.calls), next.sent)
	}
}

// TestStreamCallNotDispatched: a call that could not be sent is a 500, and gives its attempt
// back (SPEC 7): the next attempt for the key reaches the store.
func TestStreamCallNotDispatched(t *testing.T) {
	p := newTestPlugin(t, `"user_store"`, `"attack_protection": {"max_attempts": 1}, "user_store"`)
	host := verifyRequest(verifyBody)
	host.callErr = errNoCluster
	s := startStream(p, host)
	s.OnRequestHeaders(false)
	wantAction(t, s.OnRequestBody(len(verifyBody), true), Pause)
	wantActs(t, host, "send 500")
	next := verifyRequest(verifyBody)
	s = startStream(p, next)
	s.OnRequestHeaders(false)
	s.OnRequestBody(len(verifyBody), true)
	if len(next.calls) != 1 {
		t.Fatalf("next attempt: %q", next.acts)
	}
	next.reply("", "") // a failed call: reset, timeout
	if len(next.sent) != 1 || next.sent[0].status != 500 {
		t.Fatalf("failed call answered %+v", next.sent)
	}
}

// TestStreamRedirectStepCallsOnHeaders: the redirect step has no body to wait for; a body
// callback while its call runs holds the request.
func TestStreamRedirectStepCallsOnHeaders(t *testing.T) {
	p := newTestPlugin(t, "", "")
	host := &fakeHost{headers: [][2]string{{":method", "GET"}, {":authority", "acme.auth.example.com"},
		{":path", "/passwordless/verify_redirect?client_id=acme-web&connection=email&email=a%40example.com&verification_code=123456" +
			"&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=s1"}}}
	s := startStream(p, host)
	wantAction(t, s.OnRequestHeaders(true), Pause)
	wantActs(t, host, "set :path", "call userstore")
	wantAction(t, s.OnRequestBody(0, true), Pause)
	host.reply("200", `{"redirect_params":{"code":"c1"}}`)
	if len(host.sent) != 1 || host.sent[0].status != 302 {
		t.Fatalf("sent %+v", host.sent)
	}
	if loc, _ := lookup(host.sent[0].headers, "location"); loc != "https://app.example.com/callback?state=s1&code=c1" {
		t.Fatalf("location %q", loc)
	}
}

// TestPassThroughIsCheap: a request that is not the filter's reads one header, allocates
// nothing, and leaves the stream a small struct (the SDK makes one per request).
func TestPassThroughIsCheap(t *testing.T) {
	p := newTestPlugin(t, "", "")
	host := &fakeHost{headers: [][2]string{{":method", "POST"}, {":path", "/other"}}, quiet: true}
	var s Stream
	allocs := testing.AllocsPerRun(100, func() {
		s.Init(p, host)
		if s.OnRequestHeaders(false) != Continue || s.OnRequestBody(10, true) != Continue ||
			s.OnRequestTrailers() != Continue || s.OnResponseHeaders() != Continue {
			t.Fatal("a pass-through request was held")
		}
	})
	if allocs != 0 || s.r != nil || s.phase != notOurs {
		t.Fatalf("pass-through: %v allocations, request state %v, phase %d", allocs, s.r, s.phase)
	}
	if size := unsafe.Sizeof(s); size > 40 {
		t.Fatalf("Stream is %d bytes", size)
	}
}
