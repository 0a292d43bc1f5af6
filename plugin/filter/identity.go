package filter

// Identity headers are removed from every request in every spelling that CGI, WSGI and Rack
// servers read as the same variable: `_` in place of any `-` (SPEC 9). A request that is not
// the filter's is otherwise never read beyond :path, so there the spellings are removed
// without looking, one host call each, as long as that stays cheaper than reading the header
// map; past maxBlindRemovals the map is read and only what is present is removed.

// maxBlindRemovals: a header name with k dashes has 2^k spellings. The usual two identity
// headers (x-passwordless-user-id, x-passwordless-tenant) have 12 between them.
const maxBlindRemovals = 32

// spellings appends to dst every spelling of name with any of its dashes written `_`,
// name itself first; it stops, returning false, once dst would hold more than limit.
func spellings(dst []string, name string, limit int) ([]string, bool) {
	var dashes []int
	for i := 0; i < len(name); i++ {
		if name[i] == '-' {
			dashes = append(dashes, i)
		}
	}
	if len(dashes) > 30 || len(dst)+1<<len(dashes) > limit {
		return dst, false
	}
	b := []byte(name)
	for m := range 1 << len(dashes) {
		for j, i := range dashes {
			b[i] = "-_"[m>>j&1]
		}
		dst = append(dst, string(b))
	}
	return dst, true
}

// identitySpellings is every spelling of every identity header, or nil when there are more
// than maxBlindRemovals (or no identity header): then the header map is read instead.
func identitySpellings(hs []identityHeader) []string {
	var all []string
	for _, ih := range hs {
		var ok bool
		if all, ok = spellings(all, ih.name, maxBlindRemovals); !ok {
			return nil
		}
	}
	return all
}

// isIdentityHeader: name is an identity header once `_` is read as `-` and case is ignored.
func (c *config) isIdentityHeader(name string) bool {
	for _, ih := range c.identityHeaders {
		if sameHeaderVariable(name, ih.name) {
			return true
		}
	}
	return false
}

// sameHeaderVariable: a and b name the same CGI variable (HTTP_X_Y for x-y, x_y, X-Y, ...).
func sameHeaderVariable(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := lowerASCII(a[i]), lowerASCII(b[i])
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if x != y {
			return false
		}
	}
	return true
}
