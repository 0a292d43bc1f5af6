package filter

import (
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
