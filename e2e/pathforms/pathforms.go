// Package pathforms spells the request paths SPEC 3 has the filter own: the lookalikes of a
// filter path (which the filter refuses) and plain other paths (which stay the upstream's).
// The Envoy configuration tests check the shipped routes against these lists, and the real
// Envoy tests send them, so both read one definition.
package pathforms

import (
	"fmt"
	"strings"
)

// Routed are lookalikes of p that Envoy's path normalization leaves as they are, so the route
// that enables the filter must match them as written: other letter cases, one trailing "/",
// ";params" in the last segment (";" also percent-encoded, which normalization keeps).
func Routed(p string) []string {
	return []string{
		strings.ToUpper(p),
		titleSegments(p),
		p[:len(p)-1] + strings.ToUpper(p[len(p)-1:]),
		p + "/",
		p + ";",
		p + ";a=b",
		p + ";jsessionid=0123ABC",
		p + "%3Ba=b",
		p + "%3b",
		p + "/;a=b",
		titleSegments(p) + "/",
		strings.ToUpper(p) + ";a=b",
	}
}

// Form is a spelling a client sends and the path Envoy's normalization (normalize_path,
// merge_slashes) makes of it before routing.
type Form struct{ Raw, Normal string }

// Normalized are spellings of p that Envoy rewrites before routing: percent-encoded unreserved
// characters (decoded, so %56 becomes a capital V: a lookalike), doubled slashes and dot
// segments. Normal is p itself or a Routed lookalike.
func Normalized(p string) []Form {
	i := strings.LastIndexByte(p, '/') + 1 // the first letter of the last segment
	c := p[i]
	forms := []Form{
		{p[:i] + fmt.Sprintf("%%%02x", c) + p[i+1:], p},
		{p[:i] + fmt.Sprintf("%%%02X", c-'a'+'A') + p[i+1:], p[:i] + strings.ToUpper(p[i:i+1]) + p[i+1:]},
		{"/" + fmt.Sprintf("%%%02X", p[1]) + p[2:], p},
		{"/" + p, p},
		{p[:i] + "./" + p[i:], p},
		{p[:i] + "x/../" + p[i:], p},
		{p + "//", p + "/"},
	}
	if j := strings.IndexByte(p, '_'); j >= 0 {
		forms = append(forms, Form{p[:j] + "%5F" + p[j+1:], p})
	}
	return forms
}

// Others are paths near p that are neither p nor a lookalike of it: they belong to the
// upstream, and a configuration that ran the filter on them would cost every such request
// the Wasm VM.
func Others(p string) []string {
	dir := p[:strings.LastIndexByte(p, '/')+1]
	return []string{
		"/",
		dir,
		strings.TrimSuffix(dir, "/"),
		p[:len(p)-1],
		p + "x",
		p + "_x",
		p + "-x",
		p + ".json",
		p + "/x",
		p + "/x/",
		p + ";a/b",
		p + "%20",
		"/x" + p,
		"/x" + p + ";a",
	}
}

// titleSegments capitalizes the first letter of every segment: /Passwordless/Verify.
func titleSegments(p string) string {
	b := []byte(p)
	for i := 1; i < len(b); i++ {
		if b[i-1] == '/' && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}
