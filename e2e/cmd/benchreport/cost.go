package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Issue 18's goals, on CPU per request in the real Envoy (benchenvoy's table at Envoy's default
// wasm log level): ours against the floor (Envoy's CPU), both on every route so that the
// comparison is like with like; ours scoped to its routes, as the shipped configuration is,
// against no filter on the paths that are not ours; and ours scoped against the ext_authz
// peer, scoped the same way (Envoy's CPU plus its service's). Each is a path, a pair of
// variants, the figure compared and its limit.
type costGoal struct {
	path, ours, other string
	total             bool // Envoy plus the peer service; else Envoy's alone
	max               float64
}

var costGoals = []costGoal{
	{"rejected", "ours", "floor", false, 1.25},
	{"verified", "ours", "floor", false, 1.25},
	{"passthrough", "ours-scoped", "none", false, 1.03},
	{"rejected", "ours-scoped", "ext_authz", true, 0.6},
	{"verified", "ours-scoped", "ext_authz", true, 0.8},
	{"passthrough", "ours-scoped", "ext_authz", true, 1.03},
}

// judgeCost judges costGoals where the run has both variants, with requests per second
// beside each figure.
func judgeCost(s sections) []goal {
	info := s.envoy["info"]
	var goals []goal
	for _, c := range costGoals {
		a, ok1 := info[c.ours+"/"+c.path]
		b, ok2 := info[c.other+"/"+c.path]
		if !ok1 || !ok2 {
			continue
		}
		what, fa, fb := "Envoy CPU/req", a.cpuMicros, b.cpuMicros
		if c.total {
			what, fa, fb = "total CPU/req (Envoy + service)", a.totalMicros, b.totalMicros
		}
		if fb == 0 {
			continue
		}
		r := fa / fb
		g := goal{
			what: fmt.Sprintf("%s %s/%s, %s (goal <= %.2f)", what, c.ours, c.other, c.path, c.max),
			result: fmt.Sprintf("%.2f (%s %s at %.0f requests/s; %s %s at %.0f requests/s)",
				r, c.ours, figure(a, c.total), a.rps, c.other, figure(b, c.total), b.rps),
			met: r <= c.max,
		}
		if ia, ib := s.instructions[c.ours+"/"+c.path], s.instructions[c.other+"/"+c.path]; !c.total && ia > 0 && ib > 0 {
			g.result += fmt.Sprintf("; Envoy instructions per request %.2f (%.0f and %.0f, callgrind)", ia/ib, ia, ib)
		}
		if !g.met {
			g.why = costWhy(s, c, a, b)
		}
		if a.wrong+b.wrong > 0 {
			g.why = strings.TrimPrefix(g.why+fmt.Sprintf("; %d answers had the wrong status", a.wrong+b.wrong), "; ")
		}
		goals = append(goals, g)
	}
	return goals
}

// figure is a row's CPU per request as the goal compares it: with the service's share shown
// where there is one.
func figure(r envoyRow, total bool) string {
	if total && r.svcMicros > 0 {
		return fmt.Sprintf("%.1f µs (Envoy %.1f + service %.1f)", r.totalMicros, r.cpuMicros, r.svcMicros)
	}
	if total {
		return fmt.Sprintf("%.1f µs", r.totalMicros)
	}
	return fmt.Sprintf("%.1f µs", r.cpuMicros)
}

// costWhy reads a missed goal's reason from the same run: the host calls ours adds to the
// floor's, the same ratio with the wasm log at warn, what attack protection costs (ours
// against ours-unprotected), and for the peer, how much of its cost is Envoy's own.
func costWhy(s sections, c costGoal, a, b envoyRow) string {
	var why []string
	if w := s.envoy["warn"]; w != nil {
		wa, wb := w[c.ours+"/"+c.path], w[c.other+"/"+c.path]
		fa, fb := wa.cpuMicros, wb.cpuMicros
		if c.total {
			fa, fb = wa.totalMicros, wb.totalMicros
		}
		if fb > 0 {
			why = append(why, fmt.Sprintf("with Envoy's wasm log at warn %.2f", fa/fb))
		}
	}
	if extra := s.extraHostCalls(c.path); c.other == "floor" && len(extra) > 0 {
		why = append(why, "the host calls ours adds: "+strings.Join(extra, ", "))
	}
	if u, ok := s.envoy["info"]["ours-unprotected/"+c.path]; ok && c.ours == "ours" && c.other == "floor" && u.cpuMicros > 0 {
		why = append(why, fmt.Sprintf("SPEC 7's shared-data counting is %.1f µs of the %.1f µs ours spends over the floor "+
			"(ours-unprotected, the same build with attack_protection off: %.1f µs, %.2f× the floor)",
			a.cpuMicros-u.cpuMicros, a.cpuMicros-b.cpuMicros, u.cpuMicros, u.cpuMicros/b.cpuMicros))
	}
	if c.other == "ext_authz" {
		why = append(why, fmt.Sprintf("ours' Envoy spends %.1f µs more than ext_authz's Envoy, whose service takes %.1f µs",
			a.cpuMicros-b.cpuMicros, b.svcMicros))
	}
	return strings.Join(why, "; ")
}

// printScoping prints what scoping the filter to its routes saves per path: ours on every
// route (Istio's WasmPlugin cannot scope by route) beside ours scoped, and no filter.
func printScoping(w io.Writer, s sections) error {
	info := s.envoy["info"]
	var paths []string
	for _, c := range costGoals {
		_, ok1 := info["ours/"+c.path]
		_, ok2 := info["ours-scoped/"+c.path]
		if ok1 && ok2 && !slices.Contains(paths, c.path) {
			paths = append(paths, c.path)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== Envoy CPU per request: ours on every route (Istio's WasmPlugin) / ours scoped to its routes / no filter ==")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tours\treq/s\tours-scoped\treq/s\tnone\treq/s\tours/none\tours-scoped/none\t")
	for _, p := range paths {
		o, sc, n := info["ours/"+p], info["ours-scoped/"+p], info["none/"+p]
		ratio := func(a float64) string {
			if n.cpuMicros == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", a/n.cpuMicros)
		}
		fmt.Fprintf(tw, "%s\t%.1f µs\t%.0f\t%.1f µs\t%.0f\t%.1f µs\t%.0f\t%s\t%s\t\n", p, o.cpuMicros, o.rps, sc.cpuMicros, sc.rps,
			n.cpuMicros, n.rps, ratio(o.cpuMicros), ratio(sc.cpuMicros))
	}
	return tw.Flush()
}
