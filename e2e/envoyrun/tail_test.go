package envoyrun

import (
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	var all strings.Builder
	tb := NewTailBuffer(10)
	for _, w := range []string{"abc", "defgh", "ij", "klmnopq", "", "rstuvwxyz0123456789", "AB"} {
		n, err := tb.Write([]byte(w))
		if n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
		all.WriteString(w)
		want := all.String()
		if len(want) > 10 {
			want = want[len(want)-10:]
		}
		if got := tb.String(); got != want {
			t.Fatalf("after %q: %q, want %q", w, got, want)
		}
	}
}
