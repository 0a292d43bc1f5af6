package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

var outcomeNames = [...]string{"other", "verified", "wrong code", "server error", "key blocked", "address throttled", "user blocked", "denied"}

// judge holds every request to SPEC and fills res.
func judge(res *Result, t *traffic, faults *faultyStore, up *upstream, reps []*replica, lim limits,
	timeout time.Duration, unsolicited int, say func(string, ...any)) {
	c := &checker{maxAttempts: lim.maxAttempts, ipMax: lim.ipMax, global: lim.global, timeout: timeout, store: faults, upstream: up}
	for _, r := range reps {
		c.modes = append(c.modes, r.mode)
	}
	type tally struct {
		n, ok    int
		outcomes map[string]int
	}
	kinds := make([]tally, numKinds)
	// One example per kind of problem, with how often it happened.
	var examples []string
	seen := map[string]int{}
	example := func(r *request, what, why string) {
		group := fmt.Sprintf("%s %s %s: %s", what, r.kind, r.name, shape(strings.ReplaceAll(why, r.id, "ID")))
		if seen[group]++; seen[group] == 1 {
			examples = append(examples, group)
			examples = append(examples, fmt.Sprintf("  e.g. replica %d, %s %s %s from %s at %s: %d %q: %s",
				r.replica, r.id, r.method, r.path, r.ip, r.sent.Format("15:04:05.000"), r.status, clip(r.respBody), why))
		}
	}
	sent := map[string]bool{}
	verified := make([]int, len(reps))
	for _, r := range t.requests() {
		sent[r.id] = true
		v := c.judge(r)
		res.Requests++
		k := &kinds[r.kind]
		k.n++
		if k.outcomes == nil {
			k.outcomes = map[string]int{}
		}
		if r.kind.reachesStore() {
			out := classify(r)
			k.outcomes[outcomeNames[out]]++
			if out == outVerified {
				verified[r.replica]++
			}
		}
		switch {
		case v.unanswered:
			res.Unanswered++
			example(r, "unanswered", fmt.Sprint(r.err))
		case v.wrong != "":
			res.Wrong++
			example(r, "wrong", v.wrong)
		case v.twice == "" && v.unverified == "":
			res.AsSpec++
			k.ok++
		}
		if v.twice != "" {
			res.Twice++
			example(r, "answered twice", v.twice)
		}
		if v.unverified != "" {
			res.Unverified++
			example(r, "unverified upstream", v.unverified)
		}
	}
	res.Twice += unsolicited
	arrivals, unnamed := up.all()
	res.Unverified += len(unnamed)
	for id := range arrivals {
		if !sent[id] {
			res.Unverified++
			examples = append(examples, "the upstream received "+id+", which no client sent")
		}
	}
	for k, tl := range kinds {
		if tl.n == 0 {
			continue
		}
		var outs []string
		for name, n := range tl.outcomes {
			outs = append(outs, fmt.Sprintf("%s %d", name, n))
		}
		sort.Strings(outs)
		say("%-14s %6d sent, %6d as SPEC says  %s", kind(k), tl.n, tl.ok, strings.Join(outs, ", "))
	}
	for i, n := range verified {
		say("replica %d: %d verifications succeeded", i, n)
		if n == 0 {
			res.Wrong++
			say("replica %d verified nobody: the soak did not test a success there", i)
		}
	}
	if unsolicited > 0 {
		say("%d answers came on idle connections, for no request", unsolicited)
	}
	for _, e := range examples {
		if n := seen[e]; n > 0 {
			say("%d × %s", n, e)
		} else {
			say("%s", e)
		}
	}
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// shape is a problem's text without its numbers and quoted values, so that alike problems
// group together.
func shape(why string) string {
	out := []rune{}
	quoted := false
	for _, c := range why {
		switch {
		case c == '"':
			quoted = !quoted
			if quoted {
				out = append(out, '…')
			}
		case quoted:
		case c >= '0' && c <= '9':
			if len(out) == 0 || out[len(out)-1] != '#' {
				out = append(out, '#')
			}
		default:
			out = append(out, c)
		}
	}
	if len(out) > 90 {
		out = append(out[:90], '…')
	}
	return string(out)
}

// dump writes every request, in the order they were made, with what the store did and the
// answer: what a reproduction starts from. Codes are left out.
func dump(path string, t *traffic, faults *faultyStore) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range t.requests() {
		line := map[string]any{"id": r.id, "kind": r.kind.String(), "row": r.name, "replica": r.replica,
			"ip": r.ip, "user": r.user, "method": r.method, "path": strings.ReplaceAll(r.path, r.code, "CODE"),
			"sent": r.sent.Format(time.RFC3339Nano), "ms": r.done.Sub(r.sent).Milliseconds(), "status": r.status,
			"answer": strings.ReplaceAll(string(r.respBody), r.code, "CODE"), "outcome": outcomeNames[classify(r)],
			"key": [2]int{r.key.lo, r.key.hi}, "addr": [2]int{r.addr.lo, r.addr.hi}}
		if r.err != nil {
			line["error"] = r.err.Error()
		}
		for _, c := range faults.lookup(r.id) {
			line["store"] = map[string]any{"fault": c.fault.String(), "status": c.status, "ms": c.took.Milliseconds()}
		}
		if err := enc.Encode(line); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}
