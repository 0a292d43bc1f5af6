package main

import (
	"fmt"
	"io"
	"strings"
)

// goal is one row of issue 9's table, judged from this run's numbers. why, for a missed goal,
// is read from the same numbers: what the floor itself gets, which host calls ours adds, what
// Envoy does without the log line.
type goal struct {
	what, result string
	met          bool
	why          string
}

// Goals of the performance issue.
const (
	maxWasmRatio       = 1.5
	maxPipelineRatio   = 2.0
	minEnvoyVsFloor    = 0.85
	minEnvoyVsNone     = 0.95
	maxLinearMiB       = 6.0
	maxModuleBytes     = 4_500_000 // gjson brings tidwall/pretty and with it encoding/json (issue 14)
	maxNativeAllocsRej = 2
	maxNativeAllocsVer = 6
)

var maxGuestAllocs = map[string]float64{"rejected": 5, "verified": 12}

func judge(r *results, s sections, wasm, pair, native, ref string, moduleBytes int64) []goal {
	var goals []goal
	for _, p := range r.paths(wasm, "/ours") {
		ratio, ok := r.get(pair+p, "ours/floor")
		if !ok {
			continue
		}
		g := goal{what: "wazero ours/floor, " + p, result: fmt.Sprintf("%.2f", ratio), met: ratio <= maxWasmRatio}
		oc, _ := r.get(wasm+p+"/ours", "host-calls/op")
		fc, _ := r.get(wasm+p+"/floor", "host-calls/op")
		if !g.met {
			g.why = fmt.Sprintf("ours makes %.0f host calls to the floor's %.0f (%s in the guest profile)",
				oc, fc, strings.Join(s.extraHostCalls(p), ", "))
			prot, ok1 := r.get("BenchmarkRequest/wasm/"+p, "ns/op")
			unprot, ok2 := r.get("BenchmarkRequest/wasm/"+p+"-unprotected", "ns/op")
			if ok1 && ok2 {
				g.why += fmt.Sprintf("; SPEC 7's attack protection is %.0f µs of it (BenchmarkRequest/wasm/%s against %[2]s-unprotected)", (prot-unprot)/1e3, p)
			}
		}
		goals = append(goals, g)
		limit, ok := maxGuestAllocs[p]
		if !ok {
			continue
		}
		oa, ok1 := r.get(wasm+p+"/ours", "guest-allocs/op")
		fa, ok2 := r.get(wasm+p+"/floor", "guest-allocs/op")
		if !ok1 || !ok2 {
			continue
		}
		g = goal{what: "guest allocations, " + p, result: fmt.Sprintf("%.0f (floor %.0f)", oa, fa), met: oa <= limit}
		if !g.met && fa > limit {
			g.why = fmt.Sprintf("the floor itself makes %.0f: the ABI's and the SDK's allocations, which every filter built this way makes", fa)
		} else if !g.met {
			g.why = "ours allocates more than the floor"
		}
		goals = append(goals, g)
	}
	for _, p := range r.paths(native, "") {
		nn, ok1 := r.get(native+p, "ns/op")
		gn, ok2 := r.get(fmt.Sprintf(ref, p), "ns/op")
		if !ok1 || !ok2 {
			continue
		}
		g := goal{what: "native pipeline / gjson.Valid, " + p, result: fmt.Sprintf("%.2f", nn/gn), met: nn/gn <= maxPipelineRatio}
		if !g.met {
			g.why = "the body goes through jsoncheck's strictness pass (UTF-8, lone surrogates, depth, duplicate and dotted keys at every depth), then gjson.Valid itself, then gjson reads the parameters"
		}
		if render, ok := r.get("BenchmarkAppendJSON", "ns/op"); !g.met && ok && p == "verified" {
			g.why += fmt.Sprintf("; and it renders the user store request (BenchmarkAppendJSON: %.0f ns): without that, %.2f", render, (nn-render)/gn)
		}
		goals = append(goals, g)
		if a, ok := r.get(native+p, "allocs/op"); ok {
			limit := float64(maxNativeAllocsRej)
			if p == "verified" {
				limit = maxNativeAllocsVer
			}
			goals = append(goals, goal{what: "native allocations, " + p, result: fmt.Sprintf("%.0f", a), met: a <= limit})
		}
	}
	if kib, ok := r.get("BenchmarkWasmMemory", "linear-KiB"); ok {
		goals = append(goals, goal{what: "linear memory after 100k", result: fmt.Sprintf("%.2f MiB", kib/1024), met: kib/1024 <= maxLinearMiB})
	}
	if moduleBytes > 0 {
		goals = append(goals, goal{what: "plugin.wasm", result: fmt.Sprintf("%d bytes", moduleBytes), met: moduleBytes <= maxModuleBytes})
	}
	goals = append(goals, judgeEnvoy(s, r.paths(wasm, "/ours"))...)
	return append(goals, judgeCost(s)...)
}

func judgeEnvoy(s sections, paths []string) []goal {
	info, warn := s.envoy["info"], s.envoy["warn"]
	if info == nil {
		return nil
	}
	var goals []goal
	for _, p := range paths {
		ours, floor, none := info["ours/"+p], info["floor/"+p], info["none/"+p]
		if ours.rps == 0 || floor.rps == 0 || none.rps == 0 {
			continue
		}
		g := goal{what: "Envoy ours/floor requests/s, " + p, result: pct(ours.rps / floor.rps), met: ours.rps/floor.rps >= minEnvoyVsFloor}
		var why []string
		if w := warn; !g.met && w != nil && w["floor/"+p].rps > 0 {
			why = append(why, fmt.Sprintf("with Envoy's wasm log at warn, which drops the SPEC 10 line per request, %s",
				pct(w["ours/"+p].rps/w["floor/"+p].rps)))
		}
		if extra := s.extraHostCalls(p); !g.met && len(extra) > 0 {
			why = append(why, "the host calls ours adds: "+strings.Join(extra, ", "))
		}
		if ours.wrong > 0 {
			why = append(why, fmt.Sprintf("%d answers had the wrong status (see the counters after the table)", ours.wrong))
		}
		g.why = strings.Join(why, "; ")
		goals = append(goals, g)
		if p != "passthrough" {
			continue
		}
		g = goal{what: "Envoy ours/no filter requests/s, " + p, result: pct(ours.rps / none.rps), met: ours.rps/none.rps >= minEnvoyVsNone}
		if !g.met && floor.rps/none.rps < minEnvoyVsNone {
			g.why = fmt.Sprintf("the floor itself gets %s: loading a stock-Go proxy-wasm filter costs Envoy %.0f µs of CPU per request here (floor %.1f µs, no filter %.1f µs)",
				pct(floor.rps/none.rps), floor.cpuMicros-none.cpuMicros, floor.cpuMicros, none.cpuMicros)
		}
		goals = append(goals, g)
	}
	return goals
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func printGoals(w io.Writer, goals []goal) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== the issue's goals, judged from this run (why: read from the numbers and the guest profile above) ==")
	for _, g := range goals {
		mark := "met   "
		if !g.met {
			mark = "missed"
		}
		line := fmt.Sprintf("%s  %s: %s", mark, g.what, g.result)
		if g.why != "" {
			line += " — " + g.why
		}
		fmt.Fprintln(w, line)
	}
}
