package filter

import (
	"strconv"
	"strings"
)

// countedIP is the client address as attack protection counts it (SPEC 7): an IPv4 address as
// it is, an IPv6 address as its /64 in RFC 5952 form (`2001:db8:0:1::/64`), since one host
// holds a whole /64 and would otherwise get a fresh budget per address. An IPv4-mapped IPv6
// address is its IPv4 address (a dual-stack listener reports every IPv4 client that way, and
// as one /64 they would all share one count); a zone names an interface, not a client, and is
// dropped. Anything else is counted as given.
//
// Not net/netip: it made plugin.wasm 149 KB larger, for the 60 lines below.
func countedIP(ip string) string {
	if strings.IndexByte(ip, ':') < 0 {
		return ip
	}
	a, ok := parseIPv6(ip)
	if !ok {
		return ip
	}
	if a == [16]byte{10: 0xff, 11: 0xff, 12: a[12], 13: a[13], 14: a[14], 15: a[15]} {
		return formatIPv4(a[12:])
	}
	// The host half is zero, a run of four groups: always the longest, so it is the "::".
	last := 4
	for last > 0 && a[2*last-2] == 0 && a[2*last-1] == 0 {
		last--
	}
	b := make([]byte, 0, len("ffff:ffff:ffff:ffff::/64"))
	for g := range last {
		if g > 0 {
			b = append(b, ':')
		}
		b = strconv.AppendUint(b, uint64(a[2*g])<<8|uint64(a[2*g+1]), 16)
	}
	return string(append(b, "::/64"...))
}

// parseIPv6 reads the text form of an IPv6 address (RFC 4291 2.2, with a zone after `%`).
func parseIPv6(s string) (a [16]byte, ok bool) {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		if i == len(s)-1 {
			return a, false
		}
		s = s[:i]
	}
	gap := -1 // where "::" stands, in bytes
	n := 0
	if strings.HasPrefix(s, "::") {
		gap, s = 0, s[2:]
	}
	for s != "" {
		end := strings.IndexByte(s, ':')
		field := s
		if end >= 0 {
			field = s[:end]
		}
		if end < 0 && strings.IndexByte(field, '.') >= 0 { // a trailing IPv4 address
			v4, ok := parseIPv4(field)
			if !ok || n > 12 {
				return a, false
			}
			copy(a[n:], v4[:])
			n += 4
			break
		}
		if field == "" || len(field) > 4 || n == 16 {
			return a, false
		}
		v, err := strconv.ParseUint(field, 16, 16)
		if err != nil {
			return a, false
		}
		a[n], a[n+1] = byte(v>>8), byte(v) //nolint:gosec // G115: ParseUint bounded v to 16 bits
		n += 2
		switch {
		case end < 0:
			s = ""
		case strings.HasPrefix(s[end:], "::"):
			if gap >= 0 {
				return a, false
			}
			gap, s = n, s[end+2:]
		case end == len(s)-1:
			return a, false // a trailing single ':'
		default:
			s = s[end+1:]
		}
	}
	if gap < 0 {
		return a, n == 16
	}
	if n == 16 {
		return a, false // "::" stands for at least one group
	}
	copy(a[16-(n-gap):], a[gap:n])
	clear(a[gap : 16-(n-gap)])
	return a, true
}

// parseIPv4 reads dotted decimal: four parts of 0–255 without leading zeros.
func parseIPv4(s string) (v [4]byte, ok bool) {
	for i := range 4 {
		part := s
		if j := strings.IndexByte(s, '.'); j >= 0 && i < 3 {
			part, s = s[:j], s[j+1:]
		} else if i < 3 {
			return v, false
		}
		if part == "" || len(part) > 3 || (len(part) > 1 && part[0] == '0') {
			return v, false
		}
		n, err := strconv.ParseUint(part, 10, 8)
		if err != nil {
			return v, false
		}
		v[i] = byte(n)
	}
	return v, true
}

func formatIPv4(b []byte) string {
	out := make([]byte, 0, len("255.255.255.255"))
	for i, x := range b {
		if i > 0 {
			out = append(out, '.')
		}
		out = strconv.AppendUint(out, uint64(x), 10)
	}
	return string(out)
}
