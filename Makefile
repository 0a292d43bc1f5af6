# make test builds plugin.wasm first: half of every plugin test runs on it.
GO ?= go
GOLANGCI_LINT_VERSION ?= v2.15.0
FUZZTIME ?= 10s

.PHONY: build test lint fmt check fuzz bench clean browser

build:
	./build.sh

test: build
	$(GO) test -count=1 ./...

# run starts the filter locally without Envoy: plugin.wasm in our wasm host behind an HTTP front,
# the reference user store and an echo upstream (e2e/cmd/run). RUNFLAGS='-mode forward' etc.
.PHONY: run
run: build
	$(GO) run ./e2e/cmd/run $(RUNFLAGS)

# browser runs the hosted login page flow in Debian's Chromium (apt-get install chromium) with
# auth0.js, against the local stack in both modes; screenshots go to build/browser.
CHROMIUM ?= /usr/bin/chromium
browser: build
	@test -x $(CHROMIUM) || { echo "browser: no $(CHROMIUM); apt-get install -y chromium"; exit 1; }
	cd e2e/browser && npm ci --no-audit --no-fund
	CHROMIUM=$(CHROMIUM) $(GO) run ./e2e/cmd/browser

# Each fuzz target for a short while; go test -fuzz takes one target per run.
FUZZ_TARGETS = ./plugin:FuzzParseBody ./plugin:FuzzRequest ./plugin:FuzzParseConfig \
	./shared/userstore:FuzzAppendJSON ./shared/userstore:FuzzAppendString

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($(FUZZTIME))"; \
		$(GO) test $$pkg -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) || exit 1; \
	done

lint:
	@command -v golangci-lint >/dev/null || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" golangci-lint run ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# check is what CI runs: lint (gofmt and vet included), the tests, a short fuzz of each target.
check: lint test fuzz

# bench writes bench.txt: the filter natively and on plugin.wasm, the body parser, the user
# store request encoder and the wasm host, all from one run so ratios compare like with like.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./plugin ./shared/... ./e2e/wasmhost | tee bench.txt

clean:
	rm -rf build
