// Command wasmcheck fails unless a built plugin has the exports and imports Envoy needs; it
// prints the module's size and sha256 (see package wasmcheck).
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/passwordless-verify/filter/e2e/wasmcheck"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wasmcheck build/plugin.wasm")
		os.Exit(2)
	}
	path := os.Args[1]
	wasm, err := os.ReadFile(path)
	if err == nil {
		var m wasmcheck.Module
		if m, err = wasmcheck.Inspect(context.Background(), wasm); err == nil {
			err = wasmcheck.Check(m)
		}
		if err == nil {
			fmt.Printf("%s: %d bytes, sha256 %x\n", path, len(wasm), sha256.Sum256(wasm))
			return
		}
	}
	fmt.Fprintf(os.Stderr, "wasmcheck: %s: %v\n", path, err)
	os.Exit(1)
}
