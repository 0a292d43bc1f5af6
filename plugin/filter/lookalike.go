package filter

import "strings"

// lookalike reports whether path (query ignored) is not one of the filter's paths but is one
// once both are percent-decoded, ASCII case-folded, and stripped of `;` and what follows it in
// the last segment and of one trailing `/` (SPEC 3). An upstream that routes without regard
// to case or to a trailing `/`, or strips `;params` as Tomcat and Spring do, would take such a
// path for the verify endpoint and get its body and code unchecked. It runs on every request,
// so it costs no allocation unless a path has an escape.
func (c *config) lookalike(path string) bool {
	p := withoutQuery(path)
	if p == c.verifyPath || p == c.redirectPath {
		return false
	}
	p = routeKey(p)
	return asciiEqualFold(p, routeKey(c.verifyPath)) || asciiEqualFold(p, routeKey(c.redirectPath))
}

// routeKey is p percent-decoded, without `;params` in its last segment and one trailing `/`.
// The `;params` may stand before that `/` or after it, in what is then the last segment: a
// server that drops both sees the same path either way.
func routeKey(p string) string {
	if strings.IndexByte(p, '%') >= 0 {
		p = percentDecode(p)
	}
	p = withoutParams(p)
	if strings.HasSuffix(p, "/") {
		p = withoutParams(p[:len(p)-1])
	}
	return p
}

// withoutParams removes `;` and what follows it from the last segment of p.
func withoutParams(p string) string {
	last := strings.LastIndexByte(p, '/') + 1
	if i := strings.IndexByte(p[last:], ';'); i >= 0 {
		return p[:last+i]
	}
	return p
}

// percentDecode decodes every %XX of p; a '%' without two hex digits stays as it is.
func percentDecode(p string) string {
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		hi, ok1 := unhex(p, i+1)
		lo, ok2 := unhex(p, i+2)
		if p[i] == '%' && ok1 && ok2 {
			b = append(b, hi<<4|lo)
			i += 2
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}

// asciiEqualFold compares a and b with ASCII letters folded; other bytes must be equal.
// (strings.EqualFold folds Unicode too, where SPEC 3 names ASCII.)
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
