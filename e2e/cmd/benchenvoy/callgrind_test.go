package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDumpTotal(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "cg.1.2")
	// The shape of a callgrind dump: the summary line comes first, totals last.
	text := "version: 1\ncreator: callgrind-3.19.0\npid: 1\nevents: Ir\nsummary: 99\nfn=(1) main\n0 5\ntotals: 4870000\n"
	if err := os.WriteFile(dump, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := dumpTotal(dump)
	if err != nil || got != 4870000 {
		t.Fatalf("dumpTotal = %v, %v; want 4870000", got, err)
	}
	if got := newest([]string{"cg.1.1", dump}, []string{"cg.1.1"}); got != dump {
		t.Errorf("newest = %q", got)
	}
}
