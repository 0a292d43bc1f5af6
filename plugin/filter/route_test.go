package filter

import (
	"strconv"
	"strings"
	"testing"
)

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7:5678":           "203.0.113.7",
		"203.0.113.7":                "203.0.113.7",
		"[2001:db8::1]:443":          "2001:db8::1",
		"[::1]":                      "::1",
		"2001:db8::1":                "2001:db8::1",
		"acme.auth.example.com:8443": "acme.auth.example.com",
		"":                           "",
	} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzAppendQuoteSafe: the plain-ASCII fast path writes exactly what strconv does.
func FuzzAppendQuoteSafe(f *testing.F) {
	for _, s := range []string{"", "acme-web", `a"b`, `a\b`, "é", "\x00", "\x7f", strings.Repeat("x", 70), strings.Repeat("é", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := s
		cut := len(want) > 64
		if cut {
			want = want[:64]
		}
		w := strconv.QuoteToASCII(want)
		if cut {
			w = w[:len(w)-1] + `..."`
		}
		if got := quoteSafe(s); got != w {
			t.Fatalf("quoteSafe(%q) = %s, want %s", s, got, w)
		}
	})
}
