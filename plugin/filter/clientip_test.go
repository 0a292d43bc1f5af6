package filter

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCountedIP(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                   "203.0.113.7",
		"2001:db8:0:1:aaaa:bbbb:cccc:d": "2001:db8:0:1::/64",
		"2001:DB8:0:1::7":               "2001:db8:0:1::/64",
		"2001:db8::1":                   "2001:db8::/64",
		"2001:0db8:0000:0000:0:0:0:1":   "2001:db8::/64",
		"0:0:0:1::5":                    "0:0:0:1::/64", // the host half is the longer zero run
		"::1":                           "::/64",
		"::":                            "::/64",
		"fe80::1%eth0":                  "fe80::/64",
		"::ffff:203.0.113.7":            "203.0.113.7", // IPv4-mapped: the IPv4 client
		"::ffff:cb00:7107":              "203.0.113.7",
		"::ffff:203.0.113.7%1":          "203.0.113.7",
		"64:ff9b::203.0.113.7":          "64:ff9b::/64", // NAT64: IPv6 as far as Envoy knows
		"1:2:3:4:5:6:7:8":               "1:2:3:4::/64",
		"":                              "",
		"not an address":                "not an address",
		"1:2:3:4:5:6:7:8:9":             "1:2:3:4:5:6:7:8:9", // not an address: counted as given
		"1::2::3":                       "1::2::3",
		"fe80::1%":                      "fe80::1%",
	} {
		if got := countedIP(in); got != want {
			t.Errorf("countedIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// netipCounted is countedIP written with net/netip, which the plugin does not link.
func netipCounted(ip string) string {
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil || a.Is4():
		return ip
	case a.Is4In6():
		return a.Unmap().String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}

// FuzzCountedIP: the hand-written parser agrees with net/netip on every string that has a
// colon (one without is IPv4 or not an address, counted as given either way).
func FuzzCountedIP(f *testing.F) {
	for _, s := range []string{"2001:db8::1", "::ffff:1.2.3.4", "fe80::1%eth0", "1:2:3:4:5:6:7:8", "::", "1::",
		"::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7::", "::01.2.3.4", "1:2::3:4:5:6:7:8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.Contains(s, ":") {
			return
		}
		if got, want := countedIP(s), netipCounted(s); got != want {
			t.Errorf("countedIP(%q) = %q, net/netip gives %q", s, got, want)
		}
	})
}
