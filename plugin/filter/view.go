package filter

import "unsafe"

// view is b as a string, without a copy. Only for bytes the host handed over that nothing
// changes afterwards: a request body, a user store answer.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b)) //nolint:gosec // G103: the bytes are never written again
}

// bytesOf is s as bytes, without a copy, for a host call that only reads them.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s)) //nolint:gosec // G103: the host only reads them
}
