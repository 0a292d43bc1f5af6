// Package jsonread reads JSON text strictly (RFC 8259, UTF-8 only, no lone UTF-16 surrogate
// escapes) without reflection. The filter uses it for its configuration, the user store's
// answers and the verify body; the user store contract uses it for requests. It replaces gjson
// in the plugin: gjson brings encoding/json (through tidwall/pretty) and reflection-heavy code
// that made up about a tenth of plugin.wasm.
//
// Nothing here panics on any input, and values are substrings of the input, so reading
// allocates only to unescape a string that has escapes.
package jsonread

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// SyntaxError is invalid JSON: what is wrong and the byte offset where it was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

func syntaxError(at int, msg string) *SyntaxError { return &SyntaxError{Offset: at, Msg: msg} }

// SkipSpace returns the offset of the first byte at or after i that is not JSON whitespace.
func SkipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// stringStop marks the bytes that end a run of plain string content: a quote, a backslash,
// a control character. A table lookup per byte is what keeps the scan as fast as gjson's.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// ScanString checks the JSON string that starts at s[i] == '"' and returns the offset just
// past its closing quote and whether it contains any escape. s must be valid UTF-8.
//
// A \u escape of a UTF-16 surrogate must be a high surrogate immediately followed by a \u
// escape of a low surrogate. A lone surrogate has no Unicode meaning and readers disagree
// about it (replace with U+FFFD, keep as WTF-8, reject), which could let two differently
// spelled keys collide in one reader and not in another, so it is rejected.
func ScanString(s string, i int) (end int, escaped bool, err *SyntaxError) {
	i++ // opening quote
	for i < len(s) {
		for i < len(s) && !stringStop[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(s) {
				return 0, false, syntaxError(len(s), "unexpected end inside a string")
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(s, i+2)
				if !ok {
					return 0, false, syntaxError(i, `invalid \u escape in string`)
				}
				switch {
				case utf16.IsSurrogate(r) && r < 0xDC00: // high surrogate
					if i+7 < len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
						if r2, ok := hex4(s, i+8); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
							i += 12
							continue
						}
					}
					return 0, false, syntaxError(i, `unpaired UTF-16 surrogate in \u escape`)
				case utf16.IsSurrogate(r): // low surrogate without a high one
					return 0, false, syntaxError(i, `unpaired UTF-16 surrogate in \u escape`)
				}
				i += 6
			default:
				return 0, false, syntaxError(i, "invalid escape in string")
			}
		case c < 0x20:
			return 0, false, syntaxError(i, "control character in string")
		}
	}
	return 0, false, syntaxError(len(s), "unexpected end inside a string")
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// ScanNumber checks the JSON number that starts at s[i] and returns the offset just past it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? Whatever follows (the 'x' of "1x", the '1' of
// "01") is for the caller to reject.
func ScanNumber(s string, i int) (int, *SyntaxError) {
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return 0, syntaxError(start, "invalid number")
	}
	if i < len(s) && s[i] == '.' {
		if i++; i >= len(s) || !isDigit(s[i]) {
			return 0, syntaxError(start, "invalid number")
		}
		i = digits(s, i)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return 0, syntaxError(start, "invalid number")
		}
		i = digits(s, i)
	}
	return i, nil
}

func digits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// Unescape returns the text of the contents of a JSON string that ScanString accepted (without
// its quotes). It never panics; on input ScanString would reject it substitutes U+FFFD.
func Unescape(raw string) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			break
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out = append(out, raw[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				out = utf8.AppendRune(out, utf8.RuneError)
				i += 2
				continue
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := hex4(raw, i+2)
				if r < 0xDC00 && ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' &&
					r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = utf16.DecodeRune(r, r2)
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		i += 2
	}
	return string(out)
}
