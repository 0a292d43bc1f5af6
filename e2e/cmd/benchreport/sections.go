package main

import (
	"slices"
	"strconv"
	"strings"
)

// The sections make bench appends after the go test output: the guest profiles of
// e2e/cmd/guestprof -vs, the tables of e2e/cmd/benchenvoy (at Envoy's default wasm log level,
// and in older files once more at warn) and its instruction counts (-callgrind).

// profileRow is one function of a guest profile: calls per request, ours and the floor's.
type profileRow struct {
	fn                    string
	oursCalls, floorCalls float64
}

// envoyRow is one cell of a benchenvoy table: Envoy's CPU per request, the peer service's
// (ext_authz only) and their total.
type envoyRow struct {
	rps, cpuMicros, svcMicros, totalMicros float64
	wrong                                  int
}

type sections struct {
	profiles map[string][]profileRow // by path
	// envoy maps the wasm log level, then "filter/path", to the row.
	envoy map[string]map[string]envoyRow
	// variants lists the filters of the Envoy tables in order of appearance.
	variants []string
	// instructions maps "filter/path" to Envoy's instructions per request (benchenvoy
	// -callgrind).
	instructions map[string]float64
}

// parseSections reads the guest profiles and Envoy tables out of the lines of bench.txt.
func parseSections(lines []string) sections {
	s := sections{profiles: map[string][]profileRow{}, envoy: map[string]map[string]envoyRow{}, instructions: map[string]float64{}}
	profilePath, logLevel, counting := "", "", false
	var cols map[string]int // the Envoy table's columns, while in one
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			cols = nil
		case strings.Contains(line, "a request with the listeners on"):
			profilePath, logLevel = strings.TrimSuffix(f[0], ":"), ""
		case strings.HasPrefix(line, "== "):
			profilePath, logLevel = "", ""
			counting = strings.HasPrefix(line, "== Envoy instructions per request")
		case counting && len(f) == 4:
			if ir, err := strconv.ParseFloat(f[2], 64); err == nil {
				s.instructions[f[0]+"/"+f[1]] = ir
			}
		case strings.HasPrefix(line, "No filter: every path goes to the upstream"):
			profilePath, logLevel = "", "info" // benchenvoy before -wasm-log said nothing
			if _, after, ok := strings.Cut(line, "the wasm log level is "); ok {
				logLevel = strings.TrimSuffix(strings.TrimSpace(after), ".")
			}
		case profilePath != "" && len(f) == 5:
			ours, err1 := strconv.ParseFloat(f[1], 64)
			floor, err2 := strconv.ParseFloat(f[3], 64)
			if err1 == nil && err2 == nil {
				s.profiles[profilePath] = append(s.profiles[profilePath], profileRow{fn: f[4], oursCalls: ours, floorCalls: floor})
			}
		case logLevel != "" && len(f) > 2 && f[0] == "filter" && f[1] == "path":
			cols = map[string]int{}
			for i, c := range f {
				cols[c] = i
			}
		case logLevel != "" && cols != nil:
			row, ok := envoyTableRow(f, cols)
			if !ok {
				continue
			}
			if s.envoy[logLevel] == nil {
				s.envoy[logLevel] = map[string]envoyRow{}
			}
			s.envoy[logLevel][f[0]+"/"+f[1]] = row
			if !slices.Contains(s.variants, f[0]) {
				s.variants = append(s.variants, f[0])
			}
		}
	}
	return s
}

// envoyTableRow reads a row of benchenvoy's table by its header's columns. Every column
// before "socket errors" is one word in the header and in the rows; tables from before the
// peer have no svc-CPU/req and total-CPU/req, and their total is Envoy's.
func envoyTableRow(f []string, cols map[string]int) (envoyRow, bool) {
	num := func(col string) (float64, bool) {
		i, ok := cols[col]
		if !ok || i >= len(f) {
			return 0, false
		}
		if f[i] == "-" {
			return 0, true
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[i], "µs"), 64)
		return v, err == nil
	}
	rps, ok1 := num("requests/s")
	cpu, ok2 := num("CPU/req")
	wrong, ok3 := num("wrong")
	if !ok1 || !ok2 || !ok3 {
		return envoyRow{}, false
	}
	r := envoyRow{rps: rps, cpuMicros: cpu, totalMicros: cpu, wrong: int(wrong)}
	if v, ok := num("svc-CPU/req"); ok {
		r.svcMicros = v
	}
	if v, ok := num("total-CPU/req"); ok {
		r.totalMicros = v
	}
	return r, true
}

// extraHostCalls lists the host calls (the guest's wrappers of the proxy-wasm imports) whose
// count per request differs between ours and the floor on path, as "+4 GetSharedData".
func (s sections) extraHostCalls(path string) []string {
	var out []string
	for _, r := range s.profiles[path] {
		_, name, ok := strings.Cut(r.fn, "proxywasm_internal.host")
		if !ok || r.oursCalls == r.floorCalls {
			continue
		}
		sign := ""
		if r.oursCalls > r.floorCalls {
			sign = "+"
		}
		out = append(out, sign+strconv.FormatFloat(r.oursCalls-r.floorCalls, 'f', -1, 64)+" "+name)
	}
	return out
}
