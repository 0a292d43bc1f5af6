package filter

import "testing"

// The fleet-wide limits of SPEC 14, in the order the stream does things (fakeHost); the
// answers and the call itself are tested in both modes in plugin/global_test.go.

const rlOK = `{"overallCode":"OK","statuses":[{"code":"OK"},{"code":"OK"}]}`

// globalPlugin has max_attempts 1 and the rate-limit service on the cluster "ratelimit".
func globalPlugin(t *testing.T) *Plugin {
	t.Helper()
	return newTestPlugin(t, `"user_store"`, `"attack_protection": {"max_attempts": 1, "global": {"cluster": "ratelimit"}}, "user_store"`)
}

// TestGlobalBeforeTheStore: the service is asked once the request is checked, and the store
// only after its OK.
func TestGlobalBeforeTheStore(t *testing.T) {
	host := verifyRequest(verifyBody)
	s := startStream(globalPlugin(t), host)
	wantAction(t, s.OnRequestHeaders(false), Pause)
	wantAction(t, s.OnRequestBody(len(verifyBody), true), Pause)
	wantActs(t, host, "call ratelimit")
	wantAction(t, s.OnRequestTrailers(), Pause) // held while the service is asked
	host.reply("200", rlOK)
	wantActs(t, host, "call ratelimit", "call userstore")
	host.reply("200", `{"user_id":"u-1"}`)
	wantActs(t, host, "call ratelimit", "call userstore", "send 200")
}

// TestGlobalClientLeaves: a client that leaves while the service is asked gets its attempt
// back and the store is never asked for it; one that leaves during the store call does not
// (SPEC 7). With max_attempts 1 the next attempt shows which.
func TestGlobalClientLeaves(t *testing.T) {
	p := globalPlugin(t)
	attempt := func() (*fakeHost, *Stream) {
		host := verifyRequest(verifyBody)
		s := startStream(p, host)
		s.OnRequestHeaders(false)
		s.OnRequestBody(len(verifyBody), true)
		return host, s
	}
	host, s := attempt()
	host.gone = true
	s.OnDone()
	host.reply("200", rlOK)
	wantActs(t, host, "call ratelimit")

	host, s = attempt()
	wantActs(t, host, "call ratelimit") // the attempt was given back: not a local 429
	host.reply("200", rlOK)
	host.gone = true
	s.OnDone()
	wantActs(t, host, "call ratelimit", "call userstore")

	host, _ = attempt()
	if len(host.sent) != 1 || host.sent[0].status != 429 || len(host.calls) != 0 {
		t.Fatalf("after a client left during the store call: sent %+v, acts %q", host.sent, host.acts)
	}
}

// TestGlobalOnDoneAfterAnswer: the end of a stream the filter answered changes no count.
func TestGlobalOnDoneAfterAnswer(t *testing.T) {
	p := globalPlugin(t)
	host := verifyRequest(verifyBody)
	s := startStream(p, host)
	s.OnRequestHeaders(false)
	s.OnRequestBody(len(verifyBody), true)
	host.reply("200", rlOK)
	host.reply("401", `{"error":"invalid_user_password"}`)
	s.OnDone()
	next := verifyRequest(verifyBody)
	s = startStream(p, next)
	s.OnRequestHeaders(false)
	s.OnRequestBody(len(verifyBody), true)
	if len(next.sent) != 1 || next.sent[0].status != 429 {
		t.Fatalf("after a counted failure: %+v", next.sent)
	}
}

// TestUserDescriptor: SPEC 14's user is the first 32 hex digits of the SHA-256 of tenant, a
// zero byte, connection, a zero byte, and the lower-cased username.
func TestUserDescriptor(t *testing.T) {
	// printf 'acme\0email\0a@example.com' | sha256sum | cut -c1-32
	const want = "d528998a16562d3f8b7e902ab297c8a3"
	if got := userDescriptor("acme", "email", "A@Example.COM"); got != want {
		t.Fatalf("user %q, want %q", got, want)
	}
	if userDescriptor("acm", "eemail", "a@example.com") == want {
		t.Error("the same bytes split elsewhere give the same user")
	}
}
