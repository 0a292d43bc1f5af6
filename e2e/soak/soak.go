// Package soak holds the filter under sustained load while its user store fails around it
// (make soak, e2e/cmd/soak): real Envoy replicas with plugin.wasm, a store that misbehaves on
// purpose for a share of its calls, and clients on several loopback addresses sending every
// kind of request SPEC names, each answer then checked against what SPEC says for its case.
package soak

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options says how long and how hard to soak.
type Options struct {
	Duration    time.Duration
	Seed        uint64
	Envoy       string // the binary; "" is envoyrun.Binary()
	Wasm        string // "" is build/plugin.wasm
	Replicas    int    // Envoy processes; 0 is 2
	Concurrency int    // workers per Envoy; 0 is 2
	Lanes       int    // clients of ordinary users; 0 is 16
	HostReplica bool   // one more replica: plugin.wasm in our host, whose shared data is counted
	// Fleet adds the rate-limit service and Redis; midway the service is killed and started
	// again, then Redis restarted. Global sets attack_protection.global on every replica, so
	// that they ask the service (SPEC 14).
	Fleet, Global bool
	FaultShare    float64
	Out           io.Writer
	Dump          string // a file for every request and its answer, one JSON line each (no codes)
}

// Result is what the soak found; Failed says whether make soak fails.
type Result struct {
	Requests, AsSpec, Wrong, Twice, Unanswered, Unverified, Traps int
	Leaks                                                         int
	RSSStart, RSSEnd                                              float64 // MiB, all replicas together
	RSSGrew                                                       bool
	SharedDataOver                                                bool
	Global                                                        bool
	GlobalOverLimit                                               int     // the Envoy replicas' fleet-wide refusals
	Rate                                                          float64 // requests per second
}

// Failed: any wrong, duplicated, unanswered or unverified request, any trap, a code in a log,
// memory that kept growing after the warm-up, or shared data past its bound.
func (r *Result) Failed() bool {
	return r.Wrong+r.Twice+r.Unanswered+r.Unverified+r.Traps+r.Leaks > 0 || r.RSSGrew || r.SharedDataOver || r.AsSpec == 0 ||
		(r.Global && r.GlobalOverLimit == 0)
}

// Line is the soak's last line.
func (r *Result) Line() string {
	return fmt.Sprintf("soak: %d requests, %d answered as SPEC says, %d wrong, %d answered twice, %d unanswered, %d unverified upstream, %d traps, envoy rss %.0f→%.0f MiB",
		r.Requests, r.AsSpec, r.Wrong, r.Twice, r.Unanswered, r.Unverified, r.Traps, r.RSSStart, r.RSSEnd)
}

// Client addresses: ordinary clients share a few, attackers and clients that hang up have
// their own, so SPEC 7's per-address limit meets both.
const (
	normalIPs     = 32
	usersPerLane  = 6
	attackerLanes = 2
	hangupLanes   = 2
)

func normalIP(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i%normalIPs) } // 127.0.0.10-41

// Run starts the stack, soaks it for o.Duration and judges every request.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.Concurrency == 0 {
		o.Concurrency = 2
	}
	if o.Lanes == 0 {
		o.Lanes = 16
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	lim := limits{maxAttempts: soakMaxAttempts, ipMax: 300, timeoutMS: 1000, global: o.Fleet && o.Global}
	timeout := time.Duration(lim.timeoutMS) * time.Millisecond
	say := func(format string, args ...any) { _, _ = fmt.Fprintf(o.Out, "soak: "+format+"\n", args...) }

	s, err := startStack(ctx, o, lim)
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.close() }()
	for _, r := range s.replicas {
		if r.envoy != nil {
			say("%s: Envoy %s, pid %d, on %s, %d workers, on_success.mode %s", r.name, r.envoy.Version, r.envoy.Pid(), r.url, o.Concurrency, r.mode)
		} else {
			say("%s: on %s, %d VMs, on_success.mode %s", r.name, r.url, o.Concurrency, r.mode)
		}
	}
	say("seed %d, %s, user store faults on %.0f%% of calls, timeout_ms %d, max_attempts %d, ip_max_failures %d",
		o.Seed, o.Duration, o.FaultShare*100, lim.timeoutMS, lim.maxAttempts, lim.ipMax)

	t := &traffic{store: s.store, faults: s.faults, ledger: newLedger(), timeout: timeout, rows: rows(), global: lim.global}
	for _, r := range s.replicas {
		t.replicas = append(t.replicas, r.url)
	}
	lanes, err := seedLanes(ctx, t, o)
	if err != nil {
		return nil, err
	}

	// Go's HTTP client reports an answer that came on an idle connection, for no request.
	unsolicited := &lineCounter{match: "Unsolicited response", w: os.Stderr}
	log.SetOutput(unsolicited)
	defer log.SetOutput(os.Stderr)

	res := &Result{Global: lim.global}
	start := time.Now()
	w := newWatch(s.replicas, warmUp(o.Duration))
	go w.run(ctx)
	runCtx, cancel := context.WithDeadline(ctx, start.Add(o.Duration))
	defer cancel()
	errc := make(chan error, len(lanes.normal))
	var wg sync.WaitGroup
	for _, l := range lanes.normal {
		wg.Go(func() { errc <- l.normal(runCtx) })
	}
	for _, l := range lanes.attackers {
		wg.Go(func() { l.attack(runCtx) })
	}
	for _, l := range lanes.hangups {
		wg.Go(func() { l.hangups(runCtx) })
	}
	go progress(runCtx, say, t, start)
	if s.rl != nil {
		wg.Go(func() { outages(runCtx, s, o.Duration, say) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return nil, err
		}
	}
	elapsed := time.Since(start)
	// Calls the filter gave up on may still be in the store; let them land before judging.
	time.Sleep(timeout + time.Second)
	w.stop()
	res.RSSStart, res.RSSEnd, res.RSSGrew = w.rss()
	for _, r := range s.replicas {
		if r.envoy == nil {
			say("%s: shared data %s", r.name, w.describe(r))
			continue
		}
		vm, err := readVMStats(ctx, r.envoy)
		if err != nil {
			return nil, err
		}
		res.Traps += max(vm.created-r.vm0.created, 0) + max(vm.reloads-r.vm0.reloads, 0) + max(r.vm0.active-vm.active, 0)
		say("%s: wasm VMs created %d→%d, active %d→%d, reloads %d→%d; rss %s", r.name,
			r.vm0.created, vm.created, r.vm0.active, vm.active, r.vm0.reloads, vm.reloads, w.describe(r))
		if lim.global {
			say("%s: fleet-wide refusals %d, failed rate-limit calls %d", r.name, vm.globalOverLimit, vm.globalFailures)
			res.GlobalOverLimit += vm.globalOverLimit
		}
	}
	res.SharedDataOver = w.sharedDataOver()
	for _, l := range lanes.all() {
		l.close()
	}
	s.stopEnvoys()
	judge(res, t, s.faults, s.upstream, s.replicas, lim, timeout, unsolicited.count(), say)
	if lim.global && res.GlobalOverLimit == 0 {
		say("the fleet-wide limits refused nothing: the soak did not test them")
	}
	if o.Dump != "" {
		if err := dump(o.Dump, t, s.faults); err != nil {
			return nil, err
		}
	}
	leaks, traps, err := scanLogs(s.logs(), sentCodes(t))
	if err != nil {
		return nil, err
	}
	res.Leaks, res.Traps = len(leaks), res.Traps+len(traps)
	for _, l := range first(leaks, 5) {
		say("a code in a log: %s", l)
	}
	for _, l := range first(traps, 5) {
		say("a failed VM: %s", l)
	}
	byFault, unnamed := s.faults.counts()
	say("user store calls: %s; %d without x-request-id", faultSummary(byFault), unnamed)
	res.Rate = float64(res.Requests) / elapsed.Seconds()
	say("%d requests in %s: %.0f requests/s; %d log lines with a code; Envoy's rss grew more than 10%% after the warm-up: %v; shared data over its bound: %v",
		res.Requests, elapsed.Round(time.Second), res.Rate, res.Leaks, res.RSSGrew, res.SharedDataOver)
	return res, nil
}

// outages kill the rate-limit service a third of the way in and start it again a while later,
// then restart Redis (losing its counts) two thirds of the way in.
func outages(ctx context.Context, s *stack, d time.Duration, say func(string, ...any)) {
	down := min(max(d/12, 3*time.Second), 15*time.Second)
	steps := []struct {
		at   time.Duration
		what string
		do   func() error
	}{
		{d / 3, "killing the rate-limit service", func() error { s.rl.Service.Kill(); return nil }},
		{d/3 + down, "starting the rate-limit service again", func() error { return s.rl.Service.Restart(ctx) }},
		{2 * d / 3, "restarting Redis", func() error { return s.rl.Redis.Restart(ctx) }},
	}
	start := time.Now()
	for _, st := range steps {
		sleep(ctx, st.at-time.Since(start))
		if ctx.Err() != nil {
			return
		}
		say("%s: %s", time.Since(start).Round(time.Second), st.what)
		if err := st.do(); err != nil {
			say("%s: %v", st.what, err)
		}
	}
}

func first(xs []string, n int) []string { return xs[:min(n, len(xs))] }

func faultSummary(byFault [numFaults]int) string {
	var parts []string
	for f, n := range byFault {
		parts = append(parts, fmt.Sprintf("%s %d", fault(f), n))
	}
	return strings.Join(parts, ", ")
}

type lanes struct{ normal, attackers, hangups []*lane }

func (l lanes) all() []*lane {
	return append(append(append([]*lane(nil), l.normal...), l.attackers...), l.hangups...)
}

// seedLanes makes the clients and puts their users into the store.
func seedLanes(ctx context.Context, t *traffic, o Options) (lanes, error) {
	var ls lanes
	for i := range o.Lanes {
		l := t.newLane(i, normalIP(i), o.Seed)
		for k := range usersPerLane {
			u := &user{name: fmt.Sprintf("u-%s-%s@soak.test", letters(uint64(i)), letters(uint64(k))), ip: normalIP(i*usersPerLane + k)}
			if err := t.putUser(ctx, u.name, false, false); err != nil {
				return ls, err
			}
			l.users = append(l.users, u)
		}
		ls.normal = append(ls.normal, l)
	}
	for i := range attackerLanes {
		ls.attackers = append(ls.attackers, t.newLane(o.Lanes+i, fmt.Sprintf("127.0.0.%d", 100+i), o.Seed))
	}
	for i := range hangupLanes {
		ls.hangups = append(ls.hangups, t.newLane(o.Lanes+attackerLanes+i, fmt.Sprintf("127.0.0.%d", 150+i), o.Seed))
	}
	return ls, nil
}

// warmUp is the part of the run after which memory must stay flat.
func warmUp(d time.Duration) time.Duration { return min(max(d/4, 10*time.Second), time.Minute) }

func progress(ctx context.Context, say func(string, ...any), t *traffic, start time.Time) {
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n := t.seq.Load()
			say("%s: %d requests (%.0f/s)", time.Since(start).Round(time.Second), n, float64(n)/time.Since(start).Seconds())
		}
	}
}

// sentCodes is every code a request carried, the ones that must appear in no log.
func sentCodes(t *traffic) map[string]bool {
	codes := map[string]bool{"135790": true} // the rejected rows' code
	for _, r := range t.requests() {
		if r.code != "" {
			codes[r.code] = true
		}
	}
	return codes
}

// lineCounter passes log output on and counts the writes that contain match.
type lineCounter struct {
	match string
	w     io.Writer
	n     atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.match) {
		c.n.Add(1)
	}
	return c.w.Write(p)
}

func (c *lineCounter) count() int { return int(c.n.Load()) }
