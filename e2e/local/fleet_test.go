package local

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/ratelimitrun"
)

// startFleet starts what make run-fleet starts, on free ports: two Envoy replicas with two
// workers each, one store, the rate-limit service and Redis.
func startFleet(t *testing.T) (*Stack, *envoyrun.LogBuffer) {
	t.Helper()
	bin := envoyrun.Require(t)
	ratelimitrun.Require(t)
	logs := &envoyrun.LogBuffer{}
	st, err := Start(context.Background(), Options{
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", UserStore: "127.0.0.1:0",
		DataDir: filepath.Join(t.TempDir(), "data"), Envoy: bin, WasmPath: wasmPath,
		Replicas:  []Replica{{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0"}},
		RateLimit: &ratelimitrun.Options{},
		Log:       logs,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("stack log:\n%s", logs)
		}
	})
	return st, logs
}

// TestFleetWalkthrough runs the fleet walkthrough's loop as make run-fleet prints it: 30
// wrong guesses alternating between the two replicas. The rate-limit service counts for the
// whole fleet: the first max_attempts (10) reach the store and get 401, the rest 429, where
// each replica alone would let 10 through (20 in all).
func TestFleetWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the walkthrough uses curl")
	}
	st, _ := startFleet(t)
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
