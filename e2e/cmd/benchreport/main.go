// Command benchreport reads make bench's raw output (`go test -bench`, the guest profiles, the
// Envoy tables) and prints the ratio tables: our filter against the floor filter per path in
// the wazero host (BenchmarkWasm in e2e/bench), and the native request benchmark against one
// gjson.Valid pass over the same body; from benchenvoy's table, what scoping the filter to its
// routes saves. Where a benchmark ran several times (-count), the median is used. It ends
// with the issues' goals, each met or missed, and for a missed one why, read from the same
// numbers.
//
//	go run ./e2e/cmd/benchreport -module build/plugin.wasm build/bench.txt >> build/bench.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	wasm := flag.String("wasm", "BenchmarkWasm/", "prefix of the wazero benchmarks, named PREFIX<path>/{ours,floor}")
	pair := flag.String("pair", "BenchmarkWasmPair/", "prefix of the interleaved wazero benchmarks, named PREFIX<path>, with ours-ns/op, floor-ns/op, ours/floor")
	native := flag.String("native", "BenchmarkPipeline/", "prefix of the native pipeline benchmarks, named PREFIX<path>")
	ref := flag.String("ref", "BenchmarkPipeline/%s/gjson.Valid", "name of the gjson.Valid reference, %s standing for <path>")
	module := flag.String("module", "", "the built plugin.wasm, for the size goal")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: benchreport [flags] [go-test-bench-output]  (stdin without a file)")
		flag.PrintDefaults()
	}
	flag.Parse()
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	if err := run(os.Stdout, in, *module, *wasm, *pair, *native, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, in io.Reader, module, wasm, pair, native, ref string) error {
	lines, err := readLines(in)
	if err != nil {
		return err
	}
	res, secs := parse(lines), parseSections(lines)
	if err := report(w, res, wasm, pair, native, ref); err != nil {
		return err
	}
	if err := printScoping(w, secs); err != nil {
		return err
	}
	var size int64
	if module != "" {
		fi, err := os.Stat(module)
		if err != nil {
			return err
		}
		size = fi.Size()
	}
	printGoals(w, judge(res, secs, wasm, pair, native, ref, size))
	return nil
}

func readLines(r io.Reader) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// results maps a benchmark name (without the -GOMAXPROCS suffix) to unit → values, one per run.
type results struct {
	names []string // in order of first appearance
	m     map[string]map[string][]float64
}

func parse(lines []string) *results {
	res := &results{m: map[string]map[string][]float64{}}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a benchmark's own log line
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		units, ok := res.m[name]
		if !ok {
			units = map[string][]float64{}
			res.m[name] = units
			res.names = append(res.names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			units[f[i+1]] = append(units[f[i+1]], v)
		}
	}
	return res
}

// get is the median of a benchmark's values in unit.
func (r *results) get(name, unit string) (float64, bool) {
	vs := r.m[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs[len(vs)/2], true
}

// paths lists the <path> parts of the names PREFIX<path>SUFFIX, in order.
func (r *results) paths(prefix, suffix string) []string {
	var out []string
	for _, n := range r.names {
		p, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		if p, ok = strings.CutSuffix(p, suffix); ok && !strings.Contains(p, "/") && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func report(w io.Writer, r *results, wasm, pair, native, ref string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== wazero host: our filter (build/plugin.wasm) / the floor (build/floor.wasm), per request ==")
	fmt.Fprintf(w, "ratio and ns/op: %s<path>, the two filters interleaved (median of runs); separately: %s<path>/{ours,floor} run one after the other\n", pair, wasm)
	fmt.Fprintln(w, "(goal: ratio <= 1.5, stretch 1.2; guest allocations <= 5 rejected, <= 12 verified)")
	fmt.Fprintln(tw, "path\tours ns/op\tfloor ns/op\tratio\tratio separately\tours guest-allocs\tfloor guest-allocs\tours abi-allocs\tfloor abi-allocs\tours host-calls\tfloor host-calls\tours linear-KiB\tfloor linear-KiB\t")
	paths := r.paths(wasm, "/ours")
	for _, p := range paths {
		o, f := wasm+p+"/ours", wasm+p+"/floor"
		on, ok1 := r.get(o, "ns/op")
		fn, ok2 := r.get(f, "ns/op")
		if !ok1 || !ok2 {
			continue
		}
		pon, pfn, ratio := "-", "-", "-"
		if v, ok := r.get(pair+p, "ours-ns/op"); ok {
			pon = strconv.FormatFloat(v, 'f', 0, 64)
		}
		if v, ok := r.get(pair+p, "floor-ns/op"); ok {
			pfn = strconv.FormatFloat(v, 'f', 0, 64)
		}
		if v, ok := r.get(pair+p, "ours/floor"); ok {
			ratio = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p, pon, pfn, ratio, on/fn,
			opt(r, o, "guest-allocs/op"), opt(r, f, "guest-allocs/op"),
			opt(r, o, "abi-allocs/op"), opt(r, f, "abi-allocs/op"),
			opt(r, o, "host-calls/op"), opt(r, f, "host-calls/op"),
			opt(r, o, "linear-KiB"), opt(r, f, "linear-KiB"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(paths) == 0 {
		fmt.Fprintf(w, "no %s<path>/ours results\n", wasm)
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "== native: %s<path> / one gjson.Valid pass over the same body (%s) ==\n", native, fmt.Sprintf(ref, "<path>"))
	fmt.Fprintln(w, "(goal: ratio <= 2; allocations <= 2 rejected, <= 6 verified)")
	fmt.Fprintln(tw, "path\tnative ns/op\tnative allocs/op\tnative B/op\tgjson.Valid ns/op\tratio\t")
	n := 0
	for _, p := range r.paths(native, "") {
		nn, ok1 := r.get(native+p, "ns/op")
		gn, ok2 := r.get(fmt.Sprintf(ref, p), "ns/op")
		if !ok1 || !ok2 {
			continue
		}
		n++
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.1f\t%.1f\t\n", p, nn, opt(r, native+p, "allocs/op"), opt(r, native+p, "B/op"), gn, nn/gn)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(w, "no pairs of %s<path> and %s\n", native, fmt.Sprintf(ref, "<path>"))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "== linear memory of one VM of ours after BenchmarkWasmMemory's mixed requests (goal: <= 6 MiB after 100k) ==")
	if kib, ok := r.get("BenchmarkWasmMemory", "linear-KiB"); ok {
		fmt.Fprintf(w, "%.0f KiB = %.2f MiB\n", kib, kib/1024)
	} else {
		fmt.Fprintln(w, "no BenchmarkWasmMemory result")
	}
	return nil
}

func opt(r *results, name, unit string) string {
	v, ok := r.get(name, unit)
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
