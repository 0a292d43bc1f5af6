#!/usr/bin/env bash
# Builds build/plugin.wasm with the stock Go toolchain; see "How the build works" in plugin/README.md.
# "./build.sh lint-abi" instead vets and lints the ABI binding where it is compiled: inside the
# vendored SDK, for GOOS=wasip1 GOARCH=wasm.
# ./build.sh [PACKAGE [OUT]] builds another main package of the module the same way, e.g.
# ./build.sh ./plugin/floor build/floor.wasm (the floor filter of make bench). PACKAGE must be
# under plugin/ or shared/ (only those are copied). WASM_LDFLAGS replaces -ldflags (make bench
# sets -buildid= to keep wasm function names: the same code plus a name section).
set -euo pipefail
cd "$(dirname "$0")"

pkg=${1:-./plugin}
out=${2:-build/plugin.wasm}
mkdir -p build
work=$(mktemp -d build/src.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The SDK binds the ABI only under TinyGo, and Go refuses overlays beneath the module cache, so
# the SDK is vendored into a throwaway copy of the module and our binding is added to it there.
cp go.mod go.sum "$work/"
cp -r plugin shared "$work/"
# Tests import the e2e packages; the plugin itself needs none of them.
find "$work" -name '*_test.go' -delete
(cd "$work" && go mod vendor)
abi=vendor/github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal
cp plugin/_sdkabi/abi_wasip1.go "$work/$abi/"
# Our binding defines the host calls as functions. The SDK's own definitions call through an
# interface (for its mock host), and an interface call makes every out-parameter the SDK passes
# (an address, a size, a CAS token) escape to the heap: allocations on every host call.
rm "$work/$abi/abi_hostcalls_mock.go"

if [ "${1:-}" = lint-abi ]; then
	# vet reports on the whole SDK package; the SDK's own findings are not ours to fix, so only
	# those in our binding or our plugin fail the step.
	vet=$(cd "$work" && GOOS=wasip1 GOARCH=wasm go vet -mod=vendor -json ./plugin/... "./$abi" 2>&1)
	if ours=$(grep -A2 -E '"posn": "[^"]*(abi_wasip1\.go|/plugin/([^/]*/)?[^/]*\.go):' <<<"$vet"); then
		echo "go vet (wasip1):"; echo "$ours"; exit 1
	fi
	if ! grep -q '^{' <<<"$vet"; then echo "$vet"; exit 1; fi # vet did not run
	cp plugin/_sdkabi/golangci.yml "$work/"
	(cd "$work" && GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=vendor golangci-lint run --allow-parallel-runners \
		--config golangci.yml "./$abi")
	exit 0
fi

# -trimpath and an empty build id make the same source give the same bytes.
(cd "$work" && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -mod=vendor -trimpath -buildvcs=false \
	-buildmode=c-shared -ldflags="${WASM_LDFLAGS:--s -w -buildid=}" -o out.wasm "$pkg")
mkdir -p "$(dirname "$out")"
mv "$work/out.wasm" "$out"

go run ./e2e/cmd/wasmcheck "$out"
