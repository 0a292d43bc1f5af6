package soak

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

// rssMiB is a process's resident memory, from /proc.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// vmStats are Envoy's counts of wasm VMs: a VM that traps is replaced (created grows) or, with
// a reload policy, reloaded.
type vmStats struct {
	created, active, reloads int
	// SPEC 14's counters: the rate-limit service's refusals, and its calls that failed.
	globalOverLimit, globalFailures int
}

func readVMStats(ctx context.Context, e *envoyrun.Envoy) (vmStats, error) {
	stats, err := e.Stats(ctx, "wasm")
	if err != nil {
		return vmStats{}, err
	}
	n := func(name string) int {
		v, _ := strconv.Atoi(stats[name])
		return v
	}
	var s vmStats
	s.created, s.active = n("wasm.envoy.wasm.runtime.v8.created"), n("wasm.envoy.wasm.runtime.v8.active")
	s.globalOverLimit = n("wasmcustom.passwordless_verify.global_over_limit")
	s.globalFailures = n("wasmcustom.passwordless_verify.global_failures")
	for name := range stats {
		if strings.Contains(name, ".vm_reload") && !strings.HasSuffix(name, "vm_reload_backoff") {
			s.reloads += n(name)
		}
	}
	return s, nil
}

// trapMarks are how Envoy (and our host) report a wasm VM that failed: a trap or panic in a
// callback, or a VM that could not be made or was reloaded.
var trapMarks = []string{"Uncaught", "RuntimeError", "unreachable", "panic:", "VM failed", "vm_reload",
	"failed to load", "fail closed", "Function: proxy_"}

func isTrap(line string) bool {
	for _, m := range trapMarks {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// withoutPrefix drops Envoy's bracketed time and thread prefix and slog's time, where digit
// runs are not codes.
func withoutPrefix(line string) string {
	for strings.HasPrefix(line, "[") {
		i := strings.IndexByte(line, ']')
		if i < 0 {
			break
		}
		line = line[i+1:]
	}
	if rest, ok := strings.CutPrefix(line, "time="); ok {
		_, line, _ = strings.Cut(rest, " ")
	}
	return line
}

// scanLogs reads log files line by line: lines that carry a code that was sent, and lines that
// report a VM that failed. Both keep at most a few examples.
func scanLogs(paths []string, codes map[string]bool) (leaks, traps []string, err error) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if isTrap(line) {
				traps = append(traps, p+": "+line)
			}
			if hasCode(withoutPrefix(line), codes) {
				leaks = append(leaks, p+": "+line)
			}
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return leaks, traps, nil
}

// hasCode says whether s holds one of codes as a run of exactly six digits, the codes' shape,
// that is not a part of a decimal number: the rate-limit service logs timestamps and counters
// such as 1796602097.216511 and 200689.000000, whose digits match some code by chance.
func hasCode(s string, codes map[string]bool) bool {
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i == 6 && codes[s[i:j]] && !decimalPart(s, i, j) {
			return true
		}
		i = j
	}
	return false
}

// decimalPart says whether the digits s[i:j] are one side of a decimal point with digits on
// its other side.
func decimalPart(s string, i, j int) bool {
	isDigit := func(k int) bool { return k >= 0 && k < len(s) && s[k] >= '0' && s[k] <= '9' }
	return i >= 1 && s[i-1] == '.' && isDigit(i-2) || j < len(s) && s[j] == '.' && isDigit(j+1)
}

// The host replica's shared data must stay within what SPEC 7's bounded tables can hold,
// however many keys fail: the filter's two tables of 1,024 buckets of at most 512 bytes, with
// room to spare, but far below one entry per key.
const (
	sharedDataMaxEntries = 4096
	sharedDataMaxBytes   = 4 << 20
)

// watch samples, every second, each Envoy's resident memory and the host replica's shared
// data; the first sample after the warm-up is the start.
type watch struct {
	reps []*replica
	warm time.Duration

	mu               sync.Mutex
	start, end, peak map[*replica]float64 // MiB, or shared data entries
	peakBytes        map[*replica]int
	warmed           bool
	done, stopped    chan struct{}
}

func newWatch(reps []*replica, warm time.Duration) *watch {
	return &watch{reps: reps, warm: warm, start: map[*replica]float64{}, end: map[*replica]float64{},
		peak: map[*replica]float64{}, peakBytes: map[*replica]int{}, done: make(chan struct{}), stopped: make(chan struct{})}
}

func (w *watch) run(ctx context.Context) {
	defer close(w.stopped)
	begin := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		w.sample(time.Since(begin) >= w.warm)
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-tick.C:
		}
	}
}

func (w *watch) sample(warmed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.reps {
		var v float64
		if r.envoy != nil {
			mib, err := rssMiB(r.envoy.Pid())
			if err != nil {
				continue
			}
			v = mib
		} else {
			entries, bytes := r.host.sharedData()
			v = float64(entries)
			w.peakBytes[r] = max(w.peakBytes[r], bytes)
		}
		if warmed && !w.warmed {
			w.start[r] = v
		}
		w.end[r], w.peak[r] = v, max(w.peak[r], v)
	}
	if warmed {
		w.warmed = true
	}
}

// stop takes the last sample.
func (w *watch) stop() {
	close(w.done)
	<-w.stopped
	w.sample(true)
}

// rss sums every Envoy's memory at the start and the end, and says whether one grew more than
// 10% after the warm-up.
func (w *watch) rss() (start, end float64, grew bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.reps {
		if r.envoy != nil {
			start += w.start[r]
			end += w.end[r]
			grew = grew || w.end[r] > w.start[r]*1.10
		}
	}
	return start, end, grew
}

func (w *watch) sharedDataOver() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.reps {
		if r.host != nil && (w.peak[r] > sharedDataMaxEntries || w.peakBytes[r] > sharedDataMaxBytes) {
			return true
		}
	}
	return false
}

func (w *watch) describe(r *replica) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.envoy == nil {
		return fmt.Sprintf("%.0f→%.0f entries after the warm-up (peak %.0f entries, %d KiB; bound %d entries, %d KiB)",
			w.start[r], w.end[r], w.peak[r], w.peakBytes[r]>>10, sharedDataMaxEntries, sharedDataMaxBytes>>10)
	}
	return fmt.Sprintf("%.0f→%.0f MiB after the warm-up (peak %.0f)", w.start[r], w.end[r], w.peak[r])
}
