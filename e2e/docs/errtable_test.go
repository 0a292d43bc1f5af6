package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorTableIsCatalogue fails when plugin/README.md's errors table is not what the
// catalogue renders: after a catalogue change, run go run ./e2e/cmd/docgen.
func TestErrorTableIsCatalogue(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), ErrorsReadme))
	if err != nil {
		t.Fatal(err)
	}
	table, err := ErrorTable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := WithErrorTable(readme, table)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(readme) {
		t.Errorf("%s: the errors table differs from the catalogue; run go run ./e2e/cmd/docgen from the repository root. It should read:\n%s",
			ErrorsReadme, table)
	}
}

// TestErrorTableNeedsEveryKind: a catalogue entry without a row here, or with two, is an error,
// so the generated table cannot silently leave one out.
func TestErrorTableNeedsEveryKind(t *testing.T) {
	saved := errorRows
	t.Cleanup(func() { errorRows = saved })

	errorRows = saved[1:]
	if _, err := ErrorTable(); err == nil || !strings.Contains(err.Error(), "has 0 rows") {
		t.Errorf("a missing row: got %v", err)
	}
	errorRows = append([]errorRow{saved[0]}, saved...)
	if _, err := ErrorTable(); err == nil || !strings.Contains(err.Error(), "has 2 rows") {
		t.Errorf("a doubled row: got %v", err)
	}
}

func TestWithErrorTable(t *testing.T) {
	in := "intro\n" + tableBegin + "\n| old |\n" + tableEnd + "\nafter\n"
	got, err := WithErrorTable([]byte(in), "| new |\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n" + tableBegin + "\n| new |\n" + tableEnd + "\nafter\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := WithErrorTable([]byte("no markers\n"), "| new |\n"); err == nil {
		t.Error("a README without the markers: no error")
	}
}
