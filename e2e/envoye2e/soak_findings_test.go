package envoye2e

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestSuccessClearsUnknownOutcomes is what make soak found (issue 16): a user whose store calls
// failed now and then, with successful logins between them, was refused as "blocked" once the
// failed calls added up to max_attempts on one replica, though each success came in between.
// SPEC 7 says an attempt whose outcome is unknown stays taken, and that a successful
// verification clears the key; a success proves the code, so it clears those attempts too.
//
// Four store calls that fail (a reset each: 500), one success, two wrong codes: with
// max_attempts 5 both wrong codes reach the store (401); neither is refused (429).
func TestSuccessClearsUnknownOutcomes(t *testing.T) {
	var calls atomic.Int32
	storeAddr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		switch n := calls.Add(1); {
		case n <= 4:
			reset(w)
		case n == 5:
			_, _ = io.WriteString(w, `{"user_id":"u-flaky"}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_user_password"}`)
		}
	}))
	s := startStack(t, stackOptions{storeAddr: storeAddr, config: func(cfg map[string]any) {
		e2eConfig(cfg)
		set(cfg, "attack_protection.max_attempts", 5)
	}})
	const user = "flaky@e2e.test"
	for i := range 4 {
		if a := s.verify(t, nil, verifyBody(user, "111111")); a.status != 500 {
			t.Fatalf("failed store call %d: %d %s", i+1, a.status, a.body)
		}
	}
	if a := s.verify(t, nil, verifyBody(user, "111111")); a.status != 200 {
		t.Fatalf("success: %d %s", a.status, a.body)
	}
	for range 2 {
		a := s.verify(t, nil, verifyBody(user, "222222"))
		checkError(t, a, 401, "invalid_user_password", "Wrong email or password.", false)
	}
	if n := calls.Load(); n != 7 {
		t.Errorf("%d store calls, want 7", n)
	}
}
