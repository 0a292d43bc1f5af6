// Package jsoncheck is the strictness pass every JSON document of the filter goes through
// before gjson reads it (SPEC 4): UTF-8 only, no lone UTF-16 surrogate escapes, at most
// MaxDepth levels of nesting, and optionally no object holding a key twice. It also reports
// whether some key contains a '.'. gjson then decides the syntax.
//
// It is a checker, not a reader: one iterative walk over the raw bytes that follows strings and
// brackets, with fixed-size state, so any input costs time linear in its length and bounded
// stack. Depth is bounded here first because gjson's validator recurses.
package jsoncheck

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// MaxDepth is the deepest nesting of objects and arrays accepted; the outermost container is
// level 1.
const MaxDepth = 64

// dupKeyLinearMax is how many keys of one object are compared by a linear search, which
// allocates nothing; an object with more keys moves to a map, so thousands of keys cost O(n).
const dupKeyLinearMax = 16

// Problem is what is wrong with a document.
type Problem uint8

const (
	NotUTF8 Problem = iota + 1
	Malformed
	LoneSurrogate
	TooDeep
	DuplicateKey
)

// Error is a refused document. It never holds a string value of the document; Key (a
// duplicate key) is for callers to show only where a key cannot be a secret.
type Error struct {
	Problem Problem
	Offset  int    // byte offset of the problem; -1 when gjson refused the syntax (it does not say where)
	What    string // what is wrong, for Malformed
	Key     string // DuplicateKey: the key, unescaped
	Object  string // DuplicateKey: the keys (array elements: indexes) leading to the object, joined by "."
}

func (e *Error) Error() string {
	var msg string
	switch e.Problem {
	case NotUTF8:
		msg = "invalid UTF-8"
	case LoneSurrogate:
		msg = `unpaired UTF-16 surrogate in \u escape`
	case TooDeep:
		msg = "nested more than " + strconv.Itoa(MaxDepth) + " levels deep"
	case DuplicateKey:
		msg = "an object has the same key twice"
	default:
		msg = e.What
	}
	if e.Offset < 0 {
		return msg
	}
	return msg + " at byte " + strconv.Itoa(e.Offset)
}

// Options choose the checks beyond UTF-8, surrogates, depth and syntax.
type Options struct {
	// Duplicates refuses an object holding the same key twice, compared after unescaping:
	// readers disagree on which one wins.
	Duplicates bool
}

// Check runs the strictness pass over doc and then gjson.ValidBytes, and reports whether a key
// anywhere contains a '.'. A nil error means gjson may read doc.
func Check(doc []byte, o Options) (dotted bool, err *Error) {
	if !utf8.Valid(doc) {
		return false, &Error{Problem: NotUTF8, Offset: invalidUTF8At(doc)}
	}
	var w walker
	if dotted, err = w.walk(doc, o); err != nil {
		return false, err
	}
	if !gjson.ValidBytes(doc) {
		return false, &Error{Problem: Malformed, Offset: -1, What: "not valid JSON"}
	}
	return dotted, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// walker is the state of one walk; its arrays live on the caller's stack.
type walker struct {
	isObj   [MaxDepth]bool
	keyBase [MaxDepth]int32 // where each open object's keys start in keys
	keyBuf  [dupKeyLinearMax]string
	// sets holds the keys of each open object that has too many for keys; made only then.
	sets *[MaxDepth]map[string]struct{}
}

// stringStop marks the bytes that end a run of plain string content.
var stringStop = func() (t [256]bool) {
	t['"'], t['\\'] = true, true
	return t
}()

func (w *walker) walk(doc []byte, o Options) (dotted bool, err *Error) {
	s := unsafe.String(unsafe.SliceData(doc), len(doc)) //nolint:gosec // G103: read only; a key is copied before it is kept
	keys := w.keyBuf[:0]
	depth := 0
	expectKey := false // the next string in the innermost object is a key
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			end, escaped, serr := scanString(s, i)
			if serr != nil {
				return false, serr
			}
			if expectKey {
				expectKey = false
				key := s[i+1 : end-1]
				if escaped {
					key = gjson.Parse(s[i:end]).Str // a plain string literal: no recursion
				}
				dotted = dotted || strings.IndexByte(key, '.') >= 0
				if o.Duplicates {
					var dup bool
					if keys, dup = w.addKey(keys, depth-1, key); dup {
						return false, &Error{Problem: DuplicateKey, Offset: i, Key: strings.Clone(key), Object: pathTo(s, i)}
					}
				}
			}
			i = end - 1
		case '{', '[':
			if depth == MaxDepth {
				return false, &Error{Problem: TooDeep, Offset: i}
			}
			w.isObj[depth] = c == '{'
			w.keyBase[depth] = int32(len(keys)) //nolint:gosec // G115: at most one key per byte of a document under 2 GiB
			if w.sets != nil {
				w.sets[depth] = nil
			}
			depth++
			expectKey = c == '{'
		case '}', ']':
			if depth == 0 || w.isObj[depth-1] != (c == '}') {
				return false, &Error{Problem: Malformed, Offset: i, What: "unbalanced brackets"}
			}
			depth--
			keys = keys[:int(w.keyBase[depth])]
			expectKey = false
		case ',':
			expectKey = depth > 0 && w.isObj[depth-1]
		}
	}
	if depth != 0 {
		return false, &Error{Problem: Malformed, Offset: len(s), What: "unexpected end"}
	}
	return dotted, nil
}

// addKey records key in the object open at depth top and reports whether it was there.
func (w *walker) addKey(keys []string, top int, key string) ([]string, bool) {
	if w.sets != nil && w.sets[top] != nil {
		set := w.sets[top]
		if _, dup := set[key]; dup {
			return keys, true
		}
		set[key] = struct{}{}
		return keys, false
	}
	for _, k := range keys[int(w.keyBase[top]):] {
		if k == key {
			return keys, true
		}
	}
	keys = append(keys, key)
	if n := len(keys) - int(w.keyBase[top]); n > dupKeyLinearMax {
		// Only the innermost open object can be growing, so its keys are the tail of keys.
		set := make(map[string]struct{}, 4*n)
		for _, k := range keys[int(w.keyBase[top]):] {
			set[k] = struct{}{}
		}
		if w.sets == nil {
			w.sets = new([MaxDepth]map[string]struct{})
		}
		w.sets[top] = set
		keys = keys[:int(w.keyBase[top])]
	}
	return keys, false
}

// pathTo names the innermost object open at s[end] by the members and elements that lead to
// it, joined by ".". Only for an error: it walks s[:end] again, which the walk has followed.
func pathTo(s string, end int) string {
	type level struct {
		obj   bool
		key   string
		index int
	}
	var open []level
	expectKey := false
	for i := 0; i < end; i++ {
		switch c := s[i]; c {
		case '"':
			e, _, _ := scanString(s, i)
			if expectKey && len(open) > 0 {
				open[len(open)-1].key = gjson.Parse(s[i:e]).Str
				expectKey = false
			}
			i = max(e-1, i)
		case '{', '[':
			open = append(open, level{obj: c == '{'})
			expectKey = c == '{'
		case '}', ']':
			open = open[:max(len(open)-1, 0)]
			expectKey = false
		case ',':
			if n := len(open); n > 0 && open[n-1].obj {
				expectKey = true
			} else if n > 0 {
				open[n-1].index++
			}
		}
	}
	var b strings.Builder
	for d := 0; d < len(open)-1; d++ {
		if d > 0 {
			b.WriteByte('.')
		}
		if open[d].obj {
			b.WriteString(open[d].key)
		} else {
			b.WriteString(strconv.Itoa(open[d].index))
		}
	}
	return b.String()
}

// scanString follows the string that starts at s[i] == '"' and returns the offset just past
// its closing quote and whether it has escapes. Escapes must be well formed, and a \u escape
// of a UTF-16 surrogate must be a high one followed by a \u escape of a low one: readers
// disagree about a lone surrogate (U+FFFD, WTF-8, refusal), so two differently spelled keys
// could collide in one reader and not in another. Control characters are left to gjson.
func scanString(s string, i int) (end int, escaped bool, err *Error) {
	for i++; i < len(s); {
		for i < len(s) && !stringStop[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '"' {
			return i + 1, escaped, nil
		}
		escaped = true
		if i+1 >= len(s) {
			break
		}
		switch s[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			r, ok := hex4(s, i+2)
			switch {
			case !ok:
				return 0, false, &Error{Problem: Malformed, Offset: i, What: `invalid \u escape`}
			case r >= 0xD800 && r < 0xDC00: // high surrogate: a low one must follow
				if r2, ok := hex4(s, i+8); ok && s[i+6] == '\\' && s[i+7] == 'u' && r2 >= 0xDC00 && r2 <= 0xDFFF {
					i += 12
					continue
				}
				return 0, false, &Error{Problem: LoneSurrogate, Offset: i}
			case r >= 0xDC00 && r <= 0xDFFF:
				return 0, false, &Error{Problem: LoneSurrogate, Offset: i}
			}
			i += 6
		default:
			return 0, false, &Error{Problem: Malformed, Offset: i, What: "invalid escape in string"}
		}
	}
	return 0, false, &Error{Problem: Malformed, Offset: len(s), What: "unexpected end inside a string"}
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
