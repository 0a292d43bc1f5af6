package soak

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

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
type vmStats struct{ created, active, reloads int }

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
	for name := range stats {
		if strings.Contains(name, ".vm_reload") && !strings.HasSuffix(name, "vm_reload_backoff") {
			s.reloads += n(name)
		}
	}
	return s, nil
}

// trapLine is how Envoy reports a wasm VM that failed: a trap or panic in a callback, or a VM
// that could not be made.
var trapLine = regexp.MustCompile(`(?i)(uncaught|runtimeerror|unreachable|panic:|wasm vm failed|vm_reload|failed to load|fail(ed)? closed|Function: proxy_\S+ failed)`)

// logPrefix is Envoy's and slog's time and thread prefix, where digit runs are not codes.
var logPrefix = regexp.MustCompile(`^(\[[^\]]*\])+|^time=\S+`)

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
			if trapLine.MatchString(line) {
				traps = append(traps, p+": "+line)
			}
			rest := logPrefix.ReplaceAllString(line, "")
			if hasCode(rest, codes) {
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

// hasCode says whether s holds one of codes as a run of exactly six digits, the codes' shape.
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
		if j-i == 6 && codes[s[i:j]] {
			return true
		}
		i = j
	}
	return false
}
