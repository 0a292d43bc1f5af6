package envoyrun

import (
	"slices"
	"testing"
)

func TestCommandLine(t *testing.T) {
	args := []string{"-c", "x.yaml"}
	if name, got := commandLine("envoy", nil, args); name != "envoy" || !slices.Equal(got, args) {
		t.Errorf("without under: %s %q", name, got)
	}
	under := []string{"valgrind", "--tool=callgrind"}
	name, got := commandLine("envoy", under, args)
	if want := []string{"--tool=callgrind", "envoy", "-c", "x.yaml"}; name != "valgrind" || !slices.Equal(got, want) {
		t.Errorf("under valgrind: %s %q, want valgrind %q", name, got, want)
	}
	if !slices.Equal(under, []string{"valgrind", "--tool=callgrind"}) {
		t.Errorf("under was changed: %q", under)
	}
}
