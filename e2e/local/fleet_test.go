package local

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
)

// startFleet starts what make run-fleet starts, on free ports: two Envoy replicas with two
// workers each, one store, the rate-limit service and Redis.
func startFleet(t *testing.T) *Stack {
	t.Helper()
	ratelimitrun.Require(t)
	st, _ := startWith(t, true, func(o *Options) {
		o.Replicas = []Replica{{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0"}}
		o.RateLimit = &ratelimitrun.Options{}
	})
	return st
}

// TestFleetWalkthrough runs the fleet walkthrough's loop as make run-fleet prints it: 30
// wrong guesses alternating between the two replicas. The rate-limit service counts for the
// whole fleet: the first max_attempts (10) reach the store and get 401, the rest 429, where
// each replica alone would let 10 through (20 in all).
func TestFleetWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the walkthrough uses curl")
	}
	st := startFleet(t)
	if len(st.Envoys) != 2 || st.Workers != 2 {
		t.Fatalf("%d replicas with %d workers each, want 2 with 2", len(st.Envoys), st.Workers)
	}
	out, err := exec.Command("bash", "-c", FleetGuesses(st.FrontURLs(), WalkthroughRounds)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	guesses := WalkthroughRounds * len(st.Envoys)
	want := strings.TrimSpace(strings.Repeat("401 ", DemoMaxAttempts) + strings.Repeat("429 ", guesses-DemoMaxAttempts))
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("statuses:\n%s\nwant\n%s", got, want)
	}
}
