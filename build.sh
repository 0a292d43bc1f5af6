#!/usr/bin/env bash
# Builds build/plugin.wasm with the stock Go toolchain; see "How the build works" in README.md.
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
cp plugin/_sdkabi/abi_wasip1.go "$work/vendor/github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal/"

# -trimpath and an empty build id make the same source give the same bytes.
(cd "$work" && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -mod=vendor -trimpath -buildvcs=false \
	-buildmode=c-shared -ldflags="${WASM_LDFLAGS:--s -w -buildid=}" -o out.wasm "$pkg")
mkdir -p "$(dirname "$out")"
mv "$work/out.wasm" "$out"

go run ./e2e/cmd/wasmcheck "$out"
