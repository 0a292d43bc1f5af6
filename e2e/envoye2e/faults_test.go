package envoye2e

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const serverErrorText = "The verification could not be completed. Try again later."

func forwardConfig(cfg map[string]any) {
	e2eConfig(cfg)
	set(cfg, "on_success.mode", "forward")
}

// TestStoreFaults: every way the user store can fail gives 500 server_error, counts a store
// failure, and lets nothing reach the upstream, in forward mode, where a mistake would.
func TestStoreFaults(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig})
	for _, user := range []string{
		sleepUser, resetUser,
		"s-500@e2e.test", "s-502@e2e.test", "s-418@e2e.test", "s-401-other@e2e.test",
		"s-big@e2e.test", "s-malformed@e2e.test", "s-array@e2e.test",
	} {
		t.Run(user, func(t *testing.T) {
			before := storeFailures(t, s)
			a := s.verify(t, nil, verifyBody(user, "123456"))
			checkError(t, a, 500, "server_error", serverErrorText, false)
			if n := s.upstream.count(); n != 0 {
				t.Fatalf("%d requests reached the upstream", n)
			}
			waitFor(t, "user_store_failures to count it", func() bool { return storeFailures(t, s) == before+1 })
		})
	}
	// How Envoy delivers the failures, which e2e/wasmhost models (TestCalloutFailures): its
	// router answers a timeout itself (504, a text body), while a reset after the headers is a
	// failed call with no headers.
	for _, want := range []string{`reason="user store answer is not JSON"`, `reason="user store call failed"`} {
		if !strings.Contains(s.log.String(), want) {
			t.Errorf("no log line with %s", want)
		}
	}
}

// TestStoreDown: the store's port refuses connections; Envoy's callout fails with no headers.
func TestStoreDown(t *testing.T) {
	s := startStack(t, stackOptions{config: forwardConfig, storeAddr: refusingAddr(t)})
	a := s.verify(t, nil, verifyBody("anyone@e2e.test", "123456"))
	checkError(t, a, 500, "server_error", serverErrorText, false)
	if s.upstream.count() != 0 {
		t.Fatal("a request reached the upstream")
	}
}

// refusingAddr is a loopback address that refuses connections for the whole test: a socket
// bound to it but never listening. A port freed by closing a listener could be handed to the
// test's own upstream, whose answers the filter would then take for the store's.
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
}

// TestUnknownCluster: user_store.cluster names no cluster of this Envoy; the callout is
// refused when dispatched.
func TestUnknownCluster(t *testing.T) {
	s := startStack(t, stackOptions{config: func(cfg map[string]any) {
		forwardConfig(cfg)
		set(cfg, "user_store.cluster", "no-such-cluster")
	}})
	a := s.verify(t, nil, verifyBody("anyone@e2e.test", "123456"))
	checkError(t, a, 500, "server_error", serverErrorText, false)
	if s.upstream.count() != 0 || s.storeHit.get() != 0 {
		t.Fatal("the request went further than the filter")
	}
}

func storeFailures(t testing.TB, s *stack) int {
	t.Helper()
	return stat(t, s, "wasmcustom.passwordless_verify.user_store_failures")
}

// stat reads one counter from Envoy's admin /stats.
func stat(t testing.TB, s *stack, name string) int {
	t.Helper()
	stats, err := s.envoy.Stats(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := stats[name]
	if !ok {
		t.Fatalf("no stat %s in %v", name, stats)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("stat %s = %q", name, v)
	}
	return n
}
