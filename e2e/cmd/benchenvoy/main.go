// Command benchenvoy measures the filter in the real Envoy with wrk on loopback: the three
// paths of e2e/bench (rejected, verified, passthrough) against Envoy with no Wasm filter, with
// the floor filter (build/floor.wasm), with ours (build/plugin.wasm) on every route as Istio's
// WasmPlugin installs it, with ours scoped to its routes, and with the peer a user would pick
// instead: Envoy's ext_authz filter asking e2e/authzpeer's service, in a process of its own
// (config.go says how each is configured). The Envoys run side by side and the wrk runs
// interleave in rounds. Per variant and path it reports requests per second, wrk's p50 and
// p99 latency, and CPU time per request: Envoy's, the peer service's and their total (utime +
// stime from /proc/PID/stat before and after each run, divided by the requests wrk
// completed). The user store and the upstream are tiny Go servers in this process, on
// 127.0.0.1.
//
// With -callgrind N it instead counts the instructions Envoy runs per request under valgrind
// (callgrind.go): slower, but the same from run to run.
//
// Where Envoy or wrk (valgrind) is missing it prints one line saying so and exits 0, so make
// bench can always run it. make bench-envoy installs Envoy first.
//
//	go run ./e2e/cmd/benchenvoy [-d 2s -rounds 3 -warmup 2s -c 8 -t 2 -concurrency 2] >> build/bench.txt
//	go run ./e2e/cmd/benchenvoy -callgrind 500 >> build/bench.txt
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/passwordless-verify/filter/e2e/bench"
	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

type options struct {
	duration, warmup time.Duration
	conns, threads   int
	workers, rounds  int
	wasmLog          string
	also             []variant // more builds of ours, measured beside it (-also)
	// paths and variants, when set, keep only the paths and the variants named: a quick
	// comparison of one change on one path, not a run the goals are judged by.
	paths, variants []string
	// callgrind, when above 0, counts Envoy's instructions over that many requests per path
	// instead of timing wrk runs (callgrind.go); under and startTimeout are how it starts Envoy.
	callgrind    int
	under        []string
	startTimeout time.Duration
}

var floorWasm string

// instance is a variant running: its Envoy, and the peer's service where it has one.
type instance struct {
	variant
	envoy *envoyrun.Envoy
	peer  *peerProcess
}

type result struct {
	variant, path string
	requests      int
	rps           float64
	p50, p99      time.Duration
	cpuPerReq     time.Duration // Envoy's
	svcPerReq     time.Duration // the peer service's
	hasSvc        bool
	wrongStatus   int // responses wrk counted as non-2xx/3xx where 2xx was expected, or the reverse
	socketErrors  string

	seconds         float64 // summed over rounds
	ticks, svcTicks int64
	p50s, p99s      []time.Duration
	errs            []string
}

// add accumulates one round.
func (r *result) add(w wrkRun, ticks, svcTicks int64, wrongStatus int, seconds float64) {
	r.requests += w.requests
	r.seconds += seconds
	r.ticks += ticks
	r.svcTicks += svcTicks
	r.wrongStatus += wrongStatus
	r.p50s = append(r.p50s, w.p50)
	r.p99s = append(r.p99s, w.p99)
	if w.socketErrors != "" {
		r.errs = append(r.errs, w.socketErrors)
	}
}

func (r *result) finish() {
	if r.seconds > 0 {
		r.rps = float64(r.requests) / r.seconds
	}
	if r.requests > 0 {
		r.cpuPerReq = time.Duration(r.ticks) * 10 * time.Millisecond / time.Duration(r.requests)
		r.svcPerReq = time.Duration(r.svcTicks) * 10 * time.Millisecond / time.Duration(r.requests)
	}
	r.p50, r.p99 = median(r.p50s), median(r.p99s)
	r.socketErrors = "none"
	if len(r.errs) > 0 {
		r.socketErrors = strings.Join(r.errs, "; ")
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// wrkRun is what one wrk run printed.
type wrkRun struct {
	requests     int
	rps          float64
	p50, p99     time.Duration
	non2xx       int
	socketErrors string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == peerCommand {
		if err := servePeer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchenvoy authzpeer:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.DurationVar(&o.duration, "d", 2*time.Second, "wrk duration of each measured run (whole seconds)")
	flag.IntVar(&o.rounds, "rounds", 3, "measured runs per filter and path, interleaved")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run before each measured one")
	flag.IntVar(&o.conns, "c", 8, "wrk connections")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.IntVar(&o.workers, "concurrency", 2, "Envoy worker threads")
	flag.StringVar(&o.wasmLog, "wasm-log", "info", "Envoy's log level for the wasm component (the filter writes a line per request only with log_requests, off in bench.Config)")
	flag.Func("also", "`name=path.wasm`: another build of ours to measure unscoped beside it in the same run, to compare a change (repeatable)", func(s string) error {
		name, wasm, ok := strings.Cut(s, "=")
		if !ok || name == "" || wasm == "" {
			return errors.New("want name=path.wasm")
		}
		o.also = append(o.also, variant{name: name, wasm: wasm})
		return nil
	})
	flag.Func("paths", "comma-separated paths to measure (default: all)", func(s string) error {
		o.paths = strings.Split(s, ",")
		return nil
	})
	flag.Func("variants", "comma-separated variants to measure among none, floor, ours, ours-scoped, ext_authz and ours-unprotected (default: all; -also ones always run)", func(s string) error {
		o.variants = strings.Split(s, ",")
		return nil
	})
	flag.IntVar(&o.callgrind, "callgrind", 0, "count Envoy's instructions over this many sequential requests per path under valgrind's callgrind, instead of timing wrk runs (deterministic; slow)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchenvoy:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	fmt.Println()
	if o.callgrind > 0 {
		fmt.Println("== Envoy instructions per request under callgrind: no filter / the floor / ours / ours scoped / ours unprotected ==")
	} else {
		fmt.Println("== Envoy: no filter / the floor / ours / ours scoped / ext_authz / ours unprotected, wrk on loopback ==")
	}
	bin, err := envoyrun.Binary()
	if err != nil {
		fmt.Printf("skipped: %v\n", err)
		return nil
	}
	var wrk string
	if o.callgrind > 0 {
		if _, err := exec.LookPath("callgrind_control"); err != nil {
			fmt.Println("skipped: valgrind is not installed (Debian: apt-get install -y valgrind)")
			return nil
		}
	} else if wrk, err = exec.LookPath("wrk"); err != nil {
		fmt.Println("skipped: wrk is not installed (Debian: apt-get install -y wrk)")
		return nil
	}
	root, err := envoyrun.Root()
	if err != nil {
		return err
	}
	floorWasm = filepath.Join(root, "build", "floor.wasm")
	ours := filepath.Join(root, "build", "plugin.wasm")
	variants := []variant{
		{name: "none"},
		{name: "floor", wasm: floorWasm},
		{name: "ours", wasm: ours},
		{name: "ours-scoped", wasm: ours, scoped: true},
		{name: "ext_authz", peer: true},
		// What SPEC 7's shared-data counting costs: ours with attack protection off.
		{name: "ours-unprotected", wasm: ours, config: bench.UnprotectedConfig},
	}
	if o.variants != nil {
		variants = slices.DeleteFunc(variants, func(v variant) bool { return !slices.Contains(o.variants, v.name) })
	}
	variants = append(variants, o.also...)
	paths := bench.Paths()
	if o.paths != nil {
		paths = slices.DeleteFunc(paths, func(p bench.Path) bool { return !slices.Contains(o.paths, p.Name) })
	}
	if len(variants) == 0 || len(paths) == 0 {
		return errors.New("-variants and -paths leave nothing to measure")
	}
	for _, v := range variants {
		if _, err := os.Stat(v.wasm); v.wasm != "" && err != nil {
			return fmt.Errorf("%w (make bench builds it)", err)
		}
	}

	store, err := serve(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, bench.StoreAnswer)
	})
	if err != nil {
		return err
	}
	defer store.Close()
	upstream, err := serve(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	if err != nil {
		return err
	}
	defer upstream.Close()
	if o.callgrind > 0 {
		return countAll(bin, o, variants, paths, store.Addr().String(), upstream.Addr().String())
	}

	scripts, err := os.MkdirTemp("", "benchenvoy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scripts)

	// All Envoys run at once and the runs interleave (round after round, each path on each
	// Envoy in turn), so a burst of other load on the machine hits every variant alike.
	running := make([]instance, len(variants))
	defer func() {
		for _, in := range running {
			in.stop()
		}
	}()
	for i, v := range variants {
		running[i].variant = v
		authz := ""
		if v.peer {
			if running[i].peer, err = startPeer(store.Addr().String()); err != nil {
				return err
			}
			authz = running[i].peer.addr
		}
		if running[i].envoy, err = start(bin, v, o, store.Addr().String(), upstream.Addr().String(), authz); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
	}
	version := running[0].envoy.Version
	var results []result
	for _, p := range paths {
		for _, in := range running {
			results = append(results, result{variant: in.name, path: p.Name, hasSvc: in.peer != nil})
			if err := prepare(wrk, scripts, in, p, o); err != nil {
				return fmt.Errorf("%s/%s: %w", in.name, p.Name, err)
			}
		}
	}
	for range o.rounds {
		k := 0
		for _, p := range paths {
			for _, in := range running {
				if err := measure(wrk, scripts, in, p, o, &results[k]); err != nil {
					return fmt.Errorf("%s/%s: %w", in.name, p.Name, err)
				}
				k++
			}
		}
	}
	for i := range results {
		results[i].finish()
	}
	order := map[string]int{}
	for i, v := range variants {
		order[v.name] = i
	}
	slices.SortStableFunc(results, func(a, b result) int { return order[a.variant] - order[b.variant] })

	fmt.Printf("Envoy %s, --concurrency %d; wrk -t %d -c %d --latency, %d interleaved rounds of -d %s per cell after a %s warm-up;\n",
		version, o.workers, o.threads, o.conns, o.rounds, o.duration, o.warmup)
	fmt.Printf("%d CPUs on this machine, shared with wrk and the store/upstream servers. requests/s and CPU/req: over all rounds; p50/p99: the median of the rounds' wrk figures.\n", cpus())
	fmt.Println("CPU/req is Envoy's user+system time over the run divided by the requests, svc-CPU/req the same of ext_authz's service process, total-CPU/req their sum (clock ticks of 10 ms; resolution is that over the run).")
	fmt.Println("ours runs on every route (Istio's WasmPlugin); ours-scoped and ext_authz only on the routes of the filter's paths (FilterConfig per route).")
	fmt.Printf("No filter: every path goes to the upstream (200). Access logging is off in all variants; the wasm log level is %s.\n", o.wasmLog)
	if err := printResults(os.Stdout, paths, results); err != nil {
		return err
	}
	for _, in := range running {
		if in.name == "ours" {
			return printCounters(in.envoy)
		}
	}
	return nil
}

// printResults prints the table of every variant and path, then the ratios the goals
// are judged by.
func printResults(w io.Writer, paths []bench.Path, results []result) error {
	micros := func(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond)) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "filter\tpath\trequests/s\tp50\tp99\tCPU/req\tsvc-CPU/req\ttotal-CPU/req\trequests\twrong status\tsocket errors\t")
	for _, r := range results {
		svc := "-"
		if r.hasSvc {
			svc = micros(r.svcPerReq)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n", r.variant, r.path, r.rps, r.p50, r.p99,
			micros(r.cpuPerReq), svc, micros(r.total()), r.requests, r.wrongStatus, r.socketErrors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "(issue 18's goals: ours/floor Envoy CPU <= 1.25 rejected and verified; ours-scoped/none <= 1.03 passthrough;")
	fmt.Fprintln(w, " ours-scoped/ext_authz total CPU <= 0.6 rejected, <= 0.8 verified, <= 1.03 passthrough; e2e/cmd/benchreport judges them)")
	fmt.Fprintln(tw, "path\tours/floor CPU/req\tours/none CPU/req\tours-scoped/none CPU/req\tours-scoped/ext_authz total CPU/req\tours/ext_authz total CPU/req\tours-scoped/ext_authz requests/s\t")
	get := func(v, p string) result {
		for _, r := range results {
			if r.variant == v && r.path == p {
				return r
			}
		}
		return result{}
	}
	ratio := func(a, b time.Duration) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	for _, p := range paths {
		ours, scoped, floor, none, peer := get("ours", p.Name), get("ours-scoped", p.Name), get("floor", p.Name), get("none", p.Name), get("ext_authz", p.Name)
		rps := "-"
		if peer.rps > 0 {
			rps = fmt.Sprintf("%.0f%%", 100*scoped.rps/peer.rps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Name, ratio(ours.cpuPerReq, floor.cpuPerReq), ratio(ours.cpuPerReq, none.cpuPerReq),
			ratio(scoped.cpuPerReq, none.cpuPerReq), ratio(scoped.total(), peer.total()), ratio(ours.total(), peer.total()), rps)
	}
	return tw.Flush()
}

// total is Envoy's CPU per request plus the peer service's.
func (r result) total() time.Duration { return r.cpuPerReq + r.svcPerReq }

func (in instance) stop() {
	if in.envoy != nil {
		_ = in.envoy.Stop()
	}
	if in.peer != nil {
		in.peer.stop()
	}
}

// printCounters prints our filter's non-zero counters from its Envoy, so a wrong status in
// the table above can be traced to the answers the filter gave (SPEC 10's metrics).
func printCounters(e *envoyrun.Envoy) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := e.Stats(ctx, "passwordless_verify")
	if err != nil {
		return err
	}
	var counters []string
	for name, value := range stats {
		if value != "0" && !strings.ContainsAny(value, "( ") { // histograms print quantiles
			counters = append(counters, strings.TrimPrefix(name, "wasmcustom.passwordless_verify.")+"="+value)
		}
	}
	slices.Sort(counters)
	fmt.Println()
	fmt.Println("Our filter's counters in its Envoy after every run above (warm-ups included):", strings.Join(counters, " "))
	return nil
}

func serve(h http.HandlerFunc) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l, nil
}

func start(bin string, v variant, o options, store, upstream, authz string) (*envoyrun.Envoy, error) {
	wasm := v.wasm
	if wasm == "" {
		wasm = floorWasm // the bootstrap names a module; the filter is removed below
	}
	config := v.config
	if config == "" {
		config = bench.Config
	}
	return envoyrun.Start(context.Background(), envoyrun.Options{
		Binary:       bin,
		Wasm:         wasm,
		PluginConfig: []byte(config),
		UserStore:    store,
		Upstream:     upstream,
		Concurrency:  o.workers,
		Args:         []string{"--component-log-level", "wasm:" + o.wasmLog},
		Edit:         edit(v, authz),
		Under:        o.under,
		StartTimeout: o.startTimeout,
	})
}

// check sends the path once and compares the status, so a misconfigured run cannot pass as fast.
func check(e *envoyrun.Envoy, p bench.Path, want int) error {
	return sendPath(http.DefaultClient, e, p, want)
}

// sendPath sends p once with client, reads the whole answer (so the connection can be kept), and
// fails on any other status than want.
func sendPath(client *http.Client, e *envoyrun.Envoy, p bench.Path, want int) error {
	req, err := http.NewRequest(p.Method, e.URL+p.Path, strings.NewReader(p.Body))
	if err != nil {
		return err
	}
	for _, h := range p.Headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("status %d, want %d: %s", resp.StatusCode, want, body)
	}
	return nil
}

// prepare checks the path once and warms the Envoy up on it.
func prepare(wrk, dir string, in instance, p bench.Path, o options) error {
	if err := check(in.envoy, p, want(in.variant, p)); err != nil {
		return err
	}
	if err := os.WriteFile(script(dir, in.variant, p), luaScript(p), 0o600); err != nil {
		return err
	}
	if o.warmup > 0 {
		if _, err := runWrk(wrk, script(dir, in.variant, p), in.envoy.URL+p.Path, o, o.warmup); err != nil {
			return err
		}
	}
	return nil
}

func want(v variant, p bench.Path) int {
	if v.wasm == "" && !v.peer {
		return 200
	}
	return p.Status
}

func script(dir string, v variant, p bench.Path) string {
	return filepath.Join(dir, v.name+"-"+p.Name+".lua")
}

// measure runs wrk once and adds the run to r.
func measure(wrk, dir string, in instance, p bench.Path, o options, r *result) error {
	before, err := in.cpuTicks()
	if err != nil {
		return err
	}
	out, err := runWrk(wrk, script(dir, in.variant, p), in.envoy.URL+p.Path, o, o.duration)
	if err != nil {
		return err
	}
	after, err := in.cpuTicks()
	if err != nil {
		return err
	}
	w, err := parseWrk(out)
	if err != nil {
		return fmt.Errorf("%w; wrk said:\n%s", err, out)
	}
	wrong := w.non2xx // wrk counts the non-2xx/3xx answers
	if want(in.variant, p) >= 400 {
		wrong = w.requests - w.non2xx
	}
	r.add(w, after[0]-before[0], after[1]-before[1], wrong, float64(w.requests)/w.rps)
	return nil
}

// cpuTicks is Envoy's CPU time and the peer service's (0 without one), in clock ticks.
func (in instance) cpuTicks() ([2]int64, error) {
	var t [2]int64
	var err error
	if t[0], err = cpuTicks(in.envoy.Pid()); err != nil || in.peer == nil {
		return t, err
	}
	t[1], err = cpuTicks(in.peer.pid())
	return t, err
}

func runWrk(wrk, script, url string, o options, d time.Duration) (string, error) {
	args := []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns), "-d", strconv.Itoa(int(d.Seconds())) + "s",
		"--latency", "--timeout", "5s", "-s", script, url}
	out, err := exec.Command(wrk, args...).CombinedOutput() //nolint:gosec // wrk from PATH, our own arguments
	if err != nil {
		return "", fmt.Errorf("wrk: %w: %s", err, out)
	}
	return string(out), nil
}

// luaScript sets the method, headers and body of every wrk request.
func luaScript(p bench.Path) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %q\n", p.Method)
	for _, h := range p.Headers {
		fmt.Fprintf(&b, "wrk.headers[%q] = [==[%s]==]\n", h[0], h[1])
	}
	before, after, ok := strings.Cut(p.Body, benchUser)
	switch {
	case ok:
		// Every request is another user. With one user, the attempts of requests that wrk
		// cuts off at the end of a run never settle (Envoy cancels their callouts), so they
		// stay taken for the window (SPEC 7), and later runs would meet 429s for that key.
		fmt.Fprintf(&b, "local k = 0\nsetup = function(thread) thread:set(\"id\", k); k = k + 1 end\n")
		fmt.Fprintf(&b, "local n = 0\nrequest = function()\n  n = n + 1\n")
		fmt.Fprintf(&b, "  return wrk.format(nil, nil, nil, [==[%s]==] .. id .. \"-\" .. n .. [==[%s]==])\nend\n",
			before+"u", "@example.com"+after)
	case p.Body != "":
		fmt.Fprintf(&b, "wrk.body = [==[%s]==]\n", p.Body)
	}
	return []byte(b.String())
}

// benchUser is the username in e2e/bench's verify bodies.
const benchUser = "a@example.com"

// parseWrk reads requests, requests/s, the 50% and 99% latencies, the non-2xx/3xx count and
// the socket errors from wrk --latency output.
func parseWrk(out string) (wrkRun, error) {
	var r wrkRun
	var haveReq, haveRPS bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "50%":
			r.p50, _ = parseLatency(f[1])
		case len(f) >= 2 && f[0] == "99%":
			r.p99, _ = parseLatency(f[1])
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.Atoi(f[0])
			haveReq = true
		case len(f) >= 2 && f[0] == "Requests/sec:":
			r.rps, _ = strconv.ParseFloat(f[1], 64)
			haveRPS = true
		case len(f) >= 5 && f[0] == "Non-2xx":
			r.non2xx, _ = strconv.Atoi(f[len(f)-1])
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			r.socketErrors = strings.Join(f[2:], " ")
		}
	}
	if !haveReq || !haveRPS || r.rps <= 0 {
		return r, errors.New("no request count or requests/sec in wrk's output")
	}
	return r, nil
}

func parseLatency(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.unit)).Round(time.Microsecond), nil
		}
	}
	return 0, fmt.Errorf("latency %q", s)
}

// cpuTicks is a process's utime + stime in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(3) ... utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return ut + st, nil
}

func cpus() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\nprocessor") + btoi(strings.HasPrefix(string(b), "processor"))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
