// Command docgen writes the errors table of plugin/README.md from the filter's error
// catalogue (plugin/filter/catalogue.go). Run it from the repository root after changing the
// catalogue; go test ./e2e/docs fails while the README's table differs.
//
//	go run ./e2e/cmd/docgen
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/passwordless-verify/filter/e2e/docs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run() error {
	table, err := docs.ErrorTable()
	if err != nil {
		return err
	}
	old, err := os.ReadFile(docs.ErrorsReadme)
	if err != nil {
		return fmt.Errorf("%w (run it from the repository root)", err)
	}
	updated, err := docs.WithErrorTable(old, table)
	if err != nil {
		return err
	}
	if bytes.Equal(old, updated) {
		fmt.Println(docs.ErrorsReadme + ": the errors table is up to date")
		return nil
	}
	// Written only when it changed, so running it on an up-to-date tree touches nothing. The
	// file exists, so WriteFile keeps its mode.
	if err := os.WriteFile(docs.ErrorsReadme, updated, 0o600); err != nil {
		return err
	}
	fmt.Println(docs.ErrorsReadme + ": the errors table is rewritten from the catalogue")
	return nil
}
