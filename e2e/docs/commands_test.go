//go:build unix

package docs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// notRunMark opens a sh block whose commands the tests cannot run; the rest of the line says why.
const notRunMark = "# Not run by the tests:"

// command is one command of a sh block: continuation lines joined, comments removed.
type command struct {
	block block
	text  string
	words []string // split as the shell would, roughly: quotes kept out of the split
}

func (c command) String() string { return c.block.String() + ": " + c.text }

// makeTarget is the target of a make command ("" for other commands).
func (c command) makeTarget() string {
	if c.words[0] != "make" {
		return ""
	}
	for _, w := range c.words[1:] {
		if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
			return w
		}
	}
	return "" // the default target
}

// goPackage is the package of a go run or go test command ("" for other commands).
func (c command) goPackage() string {
	if c.words[0] != "go" || len(c.words) < 2 || (c.words[1] != "run" && c.words[1] != "test") {
		return ""
	}
	for _, w := range c.words[2:] {
		if strings.HasPrefix(w, "./") {
			return w
		}
	}
	return ""
}

func (b block) notRun() bool {
	return len(b.text) > 0 && strings.HasPrefix(b.text[0], notRunMark)
}

// commands splits a sh block into its commands.
func (b block) commands() []command {
	var out []command
	joined := ""
	for _, l := range b.text {
		if strings.HasSuffix(l, `\`) {
			joined += strings.TrimSuffix(l, `\`)
			continue
		}
		line := strings.TrimSpace(stripComment(joined + l))
		joined = ""
		if line == "" {
			continue
		}
		out = append(out, command{block: b, text: line, words: shellWords(line)})
	}
	return out
}

// stripComment removes a # comment: a # that starts a word outside quotes.
func stripComment(l string) string {
	var quote byte
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

// shellWords splits on blanks outside quotes and $( ), and drops the quotes.
func shellWords(l string) []string {
	var words []string
	var cur strings.Builder
	var quote byte
	depth, started := 0, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
				continue
			}
		case c == '\'' || c == '"':
			quote, started = c, true
			continue
		case c == '(' && i > 0 && l[i-1] == '$':
			depth++
		case c == ')' && depth > 0:
			depth--
		case (c == ' ' || c == '\t') && depth == 0:
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
			continue
		}
		cur.WriteByte(c)
		started = true
	}
	if started {
		words = append(words, cur.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	for in, want := range map[string]string{
		`make run RUNFLAGS='-mode forward'   # or: x`: `make|run|RUNFLAGS=-mode forward`,
		`CODE=$(tail -n 1 f | sed 's/a b/\1/')`:       `CODE=$(tail -n 1 f | sed s/a b/\1/)`,
		`curl -s 'a#b' -d "x # y" # comment`:          `curl|-s|a#b|-d|x # y`,
	} {
		if got := strings.Join(shellWords(strings.TrimSpace(stripComment(in))), "|"); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

// shBlocks are the sh blocks of every README.
func shBlocks(t *testing.T, root string) []block {
	var out []block
	for _, d := range readmes(t, root) {
		for _, b := range d.blocks {
			if b.lang == "sh" {
				out = append(out, b)
			}
		}
	}
	if len(out) < 5 {
		t.Fatalf("only %d sh blocks in the READMEs: is the parser still right?", len(out))
	}
	return out
}

// TestCommands checks every command of every README's sh blocks: the make targets and Go
// packages it names exist, and it is run, by .ci/run or by one of this package's runners. The
// commands of a block marked not run are only expanded (make -n).
func TestCommands(t *testing.T) {
	root := repoRoot(t)
	mk := readMakefile(t, root)
	ci := ciTargets(t, root, mk)
	ran := map[string]bool{}
	blocks := shBlocks(t, root)
	var walkthroughs []block
	for _, b := range blocks {
		if !b.notRun() && isWalkthrough(b) {
			walkthroughs = append(walkthroughs, b)
		}
	}
	// make run is the stack of the walkthroughs: they start it, in both modes.
	runWalkthroughs := func() {
		for _, b := range walkthroughs {
			runOnce(t, ran, "walkthrough "+b.String(), func(t *testing.T) { runWalkthrough(t, root, b) })
		}
	}
	for _, b := range blocks {
		if !b.notRun() && isWalkthrough(b) {
			runWalkthroughs()
			continue
		}
		for _, c := range b.commands() {
			if !checkNames(t, root, mk, c) {
				continue
			}
			target := c.makeTarget()
			switch {
			case b.notRun():
				if target != "" {
					runOnce(t, ran, "make -n: "+c.text, func(t *testing.T) { dryRun(t, root, c) })
				}
			case target != "" && ci[target]:
				t.Logf("%s: run by .ci/run", c)
			case target == "run" && len(walkthroughs) > 0:
				runWalkthroughs()
			default:
				r, ok := runnerFor(c)
				if !ok {
					t.Errorf("%s: neither .ci/run nor this test runs it: add a runner in e2e/docs, or open its block with %q and the reason",
						c, notRunMark)
					continue
				}
				runOnce(t, ran, c.text, func(t *testing.T) { r(t, root, c) })
			}
		}
	}
}

// runOnce runs f as a subtest, once per name: the READMEs repeat some commands.
func runOnce(t *testing.T, ran map[string]bool, name string, f func(t *testing.T)) {
	if ran[name] {
		return
	}
	ran[name] = true
	t.Run(name, f)
}

// checkNames: the make target or Go package a command names exists. False when the command
// cannot be checked further.
func checkNames(t *testing.T, root string, mk makefile, c command) bool {
	if target := c.makeTarget(); c.words[0] == "make" && !mk.has(target) {
		missingTarget(t, c, target)
		return false
	}
	if pkg := c.goPackage(); c.words[0] == "go" {
		if pkg == "" {
			t.Errorf("%s: a go command without a ./package", c)
			return false
		}
		if m, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go")); len(m) == 0 {
			t.Errorf("%s: no Go package %s", c, pkg)
			return false
		}
	}
	return true
}

func missingTarget(t *testing.T, c command, target string) {
	t.Helper()
	t.Errorf("%s: the Makefile has no target %q", c, target)
}

// TestNamesInProse: the make targets and Go packages the READMEs' prose names in code spans
// exist too.
func TestNamesInProse(t *testing.T) {
	root := repoRoot(t)
	mk := readMakefile(t, root)
	makeRE := regexp.MustCompile("`make ([a-z][a-z0-9-]*)")
	goRE := regexp.MustCompile("`go (?:run|test) [^`]*?(\\./[A-Za-z0-9_/.-]*)")
	targets, pkgs := 0, 0
	for _, d := range readmes(t, root) {
		for i, l := range d.prose() {
			where := block{doc: d.path, line: i + 1}
			for _, m := range makeRE.FindAllStringSubmatch(l, -1) {
				targets++
				if !mk.has(m[1]) {
					missingTarget(t, command{block: where, text: "make " + m[1]}, m[1])
				}
			}
			for _, m := range goRE.FindAllStringSubmatch(l, -1) {
				pkgs++
				dir := strings.TrimSuffix(m[1], "/...")
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir))); err != nil {
					t.Errorf("%s: %s: no such package folder", where, m[0])
				}
			}
		}
	}
	if targets < 10 || pkgs < 5 {
		t.Errorf("only %d make targets and %d Go packages named in the READMEs' prose: are the patterns still right?", targets, pkgs)
	}
}

// dryRun expands a make command that the tests do not run: its recipe must expand.
func dryRun(t *testing.T, root string, c command) {
	line := "make -n" + strings.TrimPrefix(c.text, "make")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir, cmd.Env = root, childEnv("")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %s: %v\n%s", c, line, err, out)
	}
}

// childEnv is the test's environment for a command of a README: without the variables of an
// outer make (make test runs this test), which would hand the inner make a jobserver it cannot
// reach; with ENVOY when envoy is set.
func childEnv(envoy string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ENVOY":
			continue
		}
		env = append(env, kv)
	}
	if envoy != "" {
		env = append(env, "ENVOY="+envoy)
	}
	return env
}
