package main

import (
	"strconv"
	"strings"
)

// The sections make bench appends after the go test output: the guest profiles of
// e2e/cmd/guestprof -vs and the tables of e2e/cmd/benchenvoy (once at Envoy's default wasm log
// level, once at warn).

// profileRow is one function of a guest profile: calls per request, ours and the floor's.
type profileRow struct {
	fn                    string
	oursCalls, floorCalls float64
}

// envoyRow is one cell of a benchenvoy table.
type envoyRow struct {
	rps, cpuMicros float64
	wrong          int
}

type sections struct {
	profiles map[string][]profileRow // by path
	// envoy maps the wasm log level, then "filter/path", to the row.
	envoy map[string]map[string]envoyRow
}

// parseSections reads the guest profiles and Envoy tables out of the lines of bench.txt.
func parseSections(lines []string) sections {
	s := sections{profiles: map[string][]profileRow{}, envoy: map[string]map[string]envoyRow{}}
	profilePath, logLevel := "", ""
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case strings.Contains(line, "a request with the listeners on"):
			profilePath, logLevel = strings.TrimSuffix(f[0], ":"), ""
		case strings.HasPrefix(line, "== "):
			profilePath, logLevel = "", ""
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
		case logLevel != "" && len(f) >= 9 && (f[0] == "none" || f[0] == "floor" || f[0] == "ours"):
			rps, err1 := strconv.ParseFloat(f[2], 64)
			cpu, err2 := strconv.ParseFloat(strings.TrimSuffix(f[5], "µs"), 64)
			wrong, err3 := strconv.Atoi(f[7])
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			if s.envoy[logLevel] == nil {
				s.envoy[logLevel] = map[string]envoyRow{}
			}
			s.envoy[logLevel][f[0]+"/"+f[1]] = envoyRow{rps: rps, cpuMicros: cpu, wrong: wrong}
		}
	}
	return s
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
