package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// makefile holds the rules of the Makefile: each target and what it runs of the others
// (prerequisites, and $(MAKE) calls in its recipe).
type makefile map[string][]string

func (m makefile) has(target string) bool { _, ok := m[target]; return ok }

var (
	ruleRE    = regexp.MustCompile(`^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:([^=].*)?$`)
	subMakeRE = regexp.MustCompile(`\$\(MAKE\)((?:[ \t]+[^ \t|;&]+)*)`)
	ciMakeRE  = regexp.MustCompile(`^[ \t]*make[ \t]+([A-Za-z0-9_.-]+)`)
)

func readMakefile(t *testing.T, root string) makefile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := makefile{}
	var current []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "\t") {
			for _, sub := range subMakeRE.FindAllStringSubmatch(l, -1) {
				for _, w := range strings.Fields(sub[1]) {
					if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
						for _, c := range current {
							m[c] = append(m[c], w)
						}
					}
				}
			}
			continue
		}
		current = nil
		r := ruleRE.FindStringSubmatch(l)
		if r == nil {
			continue
		}
		for _, target := range strings.Fields(r[1]) {
			if strings.HasPrefix(target, ".") {
				continue // .PHONY and the like
			}
			m[target] = append(m[target], strings.Fields(r[2])...)
			current = append(current, target)
		}
	}
	if len(m) < 10 {
		t.Fatalf("only %d Makefile targets found: is the rule pattern still right?", len(m))
	}
	return m
}

// ciTargets are the targets .ci/run makes, with everything they run in turn.
func ciTargets(t *testing.T, root string, m makefile) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var visit func(string)
	visit = func(target string) {
		if seen[target] || !m.has(target) {
			return
		}
		seen[target] = true
		for _, next := range m[target] {
			visit(next)
		}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if r := ciMakeRE.FindStringSubmatch(l); r != nil {
			visit(r[1])
		}
	}
	if !seen["test"] {
		t.Fatalf(".ci/run runs %v: no make test among them; is the pattern still right?", seen)
	}
	return seen
}

func TestMakefileParse(t *testing.T) {
	root := repoRoot(t)
	m := readMakefile(t, root)
	ci := ciTargets(t, root, m)
	// check runs lint, test and fuzz; test runs build as a prerequisite and envoy through $(MAKE).
	for _, target := range []string{"check", "lint", "test", "fuzz", "build", "envoy", "browser"} {
		if !ci[target] {
			t.Errorf("%s: not found among the targets .ci/run runs: %v", target, ci)
		}
	}
	for _, target := range []string{"run", "bench", "image", "clean"} {
		if ci[target] {
			t.Errorf("%s: .ci/run does not run it, but the parse says so", target)
		}
	}
}
