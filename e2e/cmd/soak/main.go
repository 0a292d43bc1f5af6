// Command soak holds the filter under load while its user store fails around it, and checks
// every answer against SPEC (e2e/soak). make soak runs it; SOAK_DURATION sets how long.
//
//	go run ./e2e/cmd/soak -duration 3m -envoy build/bin/envoy
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/passwordless-verify/filter/e2e/soak"
)

func main() {
	var o soak.Options
	flag.DurationVar(&o.Duration, "duration", 3*time.Minute, "how long to send traffic")
	flag.Uint64Var(&o.Seed, "seed", 0, "seed of the faults and the traffic mix (0: from the clock; printed either way)")
	flag.StringVar(&o.Envoy, "envoy", "", "Envoy binary (default $ENVOY, else build/bin/envoy)")
	flag.StringVar(&o.Wasm, "wasm", "", "plugin.wasm (default build/plugin.wasm)")
	flag.IntVar(&o.Replicas, "replicas", 2, "Envoy processes")
	flag.IntVar(&o.Concurrency, "concurrency", 2, "worker threads per Envoy")
	flag.IntVar(&o.Lanes, "lanes", 16, "concurrent clients of ordinary users")
	flag.BoolVar(&o.HostReplica, "host-replica", true, "one more replica: plugin.wasm in our wasm host, whose shared data is counted (Envoy shows it nowhere)")
	flag.Float64Var(&o.FaultShare, "faults", 0.10, "share of user store calls that fail on purpose")
	flag.BoolVar(&o.Fleet, "fleet", true, "the rate-limit service and Redis; midway the service is killed and started again, and Redis restarted")
	flag.BoolVar(&o.Global, "global", true, "with -fleet: attack_protection.global on every replica (SPEC 14)")
	flag.StringVar(&o.Dump, "dump", "", "write every request and its answer to this file, one JSON line each (codes left out)")
	flag.Parse()
	if flag.NArg() > 0 || o.Duration <= 0 || o.FaultShare < 0 || o.FaultShare > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := soak.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	fmt.Println(res.Line())
	if res.Failed() {
		os.Exit(1)
	}
}
