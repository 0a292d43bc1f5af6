package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/passwordless-verify/filter/e2e/bench"
	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// With -callgrind N, each variant's Envoy runs alone under valgrind's callgrind, with one
// worker, and the count is of the instructions Envoy's process runs while N requests of a path
// are sent one after another on one connection. CPU time on a shared machine moves by 10-20%
// between runs of the same cell; an instruction count moves by less than 0.5%, so it tells a
// change of a few percent from noise. The guest's garbage collections, every few hundred
// requests, each cost about ten requests: count over several hundred. It leaves out what the
// kernel does (sockets),
// which is most of the no-filter variant's cost, and cache misses: compare the filters with
// each other, not with no filter. The ext_authz peer is left out: its cost is in a second
// process.

// countWarmup requests of each path run before instrumentation and again instrumented before
// the count: Envoy's and V8's code paths are then compiled, translated and warm.
const countWarmup = 50

func countAll(bin string, o options, variants []variant, paths []bench.Path, store, upstream string) error {
	dir, err := os.MkdirTemp("", "benchenvoy-callgrind-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.workers = 1
	o.startTimeout = 15 * time.Minute // V8 compiles the module under valgrind
	// Instrumentation is off until the warm-up: starting Envoy instrumented takes minutes.
	o.under = []string{"valgrind", "--tool=callgrind", "--instr-atstart=no", "--smc-check=all-non-file", "-q",
		"--callgrind-out-file=" + filepath.Join(dir, "cg.%p")}
	counts := map[string]float64{}
	var names []string
	for _, v := range variants {
		if v.peer {
			continue
		}
		names = append(names, v.name)
		e, err := start(bin, v, o, store, upstream, "")
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		for _, p := range paths {
			n, err := countPath(e, dir, p, want(v, p), o.callgrind)
			if err != nil {
				_ = e.Stop()
				return fmt.Errorf("%s/%s: %w", v.name, p.Name, err)
			}
			counts[v.name+"/"+p.Name] = n
		}
		if err := e.Stop(); err != nil {
			return err
		}
	}
	fmt.Printf("valgrind --tool=callgrind, --concurrency 1; per variant and path %d requests after %d warm-ups, then %[2]d instrumented ones, one at a time on one connection.\n",
		o.callgrind, countWarmup)
	fmt.Println("Ir/req: the instructions of Envoy's process (every thread; not the kernel's) over the requests, divided by them.")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "filter\tpath\tIr/req\t/ floor\t")
	for _, name := range names {
		for _, p := range paths {
			ratio := "-"
			if f := counts["floor/"+p.Name]; f > 0 {
				ratio = fmt.Sprintf("%.2f", counts[name+"/"+p.Name]/f)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t\n", name, p.Name, counts[name+"/"+p.Name], ratio)
		}
	}
	return tw.Flush()
}

// countPath counts Envoy's instructions per request over n requests of p.
func countPath(e *envoyrun.Envoy, dir string, p bench.Path, status, n int) (float64, error) {
	pid := strconv.Itoa(e.Pid())
	control := func(args ...string) error {
		out, err := exec.Command("callgrind_control", append(args, pid)...).CombinedOutput() //nolint:gosec // our own flags and Envoy's pid
		if err != nil {
			return fmt.Errorf("callgrind_control %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	// Warm up before instrumenting too: the first requests under instrumentation are slow
	// enough to time the user store call out.
	if err := sendSequential(e, p, status, countWarmup); err != nil {
		return 0, err
	}
	if err := control("-i", "on"); err != nil {
		return 0, err
	}
	if err := sendSequential(e, p, status, countWarmup); err != nil {
		return 0, err
	}
	if err := control("-z"); err != nil {
		return 0, err
	}
	if err := sendSequential(e, p, status, n); err != nil {
		return 0, err
	}
	if err := control("-i", "off"); err != nil {
		return 0, err
	}
	before, _ := filepath.Glob(filepath.Join(dir, "cg."+pid+".*"))
	if err := control("-d"); err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		after, _ := filepath.Glob(filepath.Join(dir, "cg."+pid+".*"))
		if len(after) > len(before) {
			total, err := dumpTotal(newest(after, before))
			return total / float64(n), err
		}
	}
	return 0, errors.New("callgrind wrote no dump")
}

// newest is the dump in after that is not in before.
func newest(after, before []string) string {
	for _, f := range after {
		if !slices.Contains(before, f) {
			return f
		}
	}
	return ""
}

var totalsLine = regexp.MustCompile(`(?m)^totals:\s+(\d+)`)

// dumpTotal reads a callgrind dump's instruction total, once valgrind has finished writing it.
func dumpTotal(path string) (float64, error) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		if m := totalsLine.FindSubmatch(b); m != nil {
			return strconv.ParseFloat(string(m[1]), 64)
		}
	}
	return 0, fmt.Errorf("%s has no totals line", path)
}

// sendSequential sends p n times, one after another on one kept-alive connection, and fails
// on any other status than want.
func sendSequential(e *envoyrun.Envoy, p bench.Path, want, n int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	for range n {
		if err := sendPath(client, e, p, want); err != nil {
			return err
		}
	}
	return nil
}
