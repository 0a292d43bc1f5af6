package jsonread

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays Parse accepts; the outermost value is
// depth 1. It bounds Parse's recursion, whatever the input.
const MaxDepth = 64

// Kind is the JSON type of a Value. The zero Kind is Missing: a member that is not there.
type Kind uint8

const (
	Missing Kind = iota
	Null
	False
	True
	Number
	String
	Object
	Array
)

// Value is one JSON value of a document that Parse accepted.
type Value struct {
	Kind   Kind
	Raw    string // the value's exact text
	Offset int    // where Raw starts in the parsed document
}

// Parse checks that doc is exactly one JSON value, surrounded only by whitespace, and returns
// it.
func Parse(doc string) (Value, error) {
	if !utf8.ValidString(doc) {
		return Value{}, syntaxError(invalidUTF8At(doc), "invalid UTF-8")
	}
	i := SkipSpace(doc, 0)
	v, end, err := parseValue(doc, i, 1)
	if err != nil {
		return Value{}, err
	}
	if j := SkipSpace(doc, end); j < len(doc) {
		return Value{}, syntaxError(j, "unexpected data after the value")
	}
	return v, nil
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i
			}
		}
	}
	return len(s)
}

// parseValue checks the value at s[i] and returns it and the offset just past it.
func parseValue(s string, i, depth int) (Value, int, *SyntaxError) {
	if i >= len(s) {
		return Value{}, 0, syntaxError(i, "unexpected end, expected a value")
	}
	var (
		kind Kind
		end  int
		err  *SyntaxError
	)
	switch c := s[i]; {
	case c == '{' || c == '[':
		if depth > MaxDepth {
			return Value{}, 0, syntaxError(i, "nested more than "+strconv.Itoa(MaxDepth)+" levels deep")
		}
		kind = Array
		if c == '{' {
			kind = Object
		}
		end, err = parseContainer(s, i, depth, c == '{')
	case c == '"':
		kind = String
		end, _, err = ScanString(s, i)
	case c == 't', c == 'f', c == 'n':
		kind, end = Literal(s, i)
		if kind == Missing {
			err = syntaxError(i, "invalid literal")
		}
	case c == '-' || isDigit(c):
		kind = Number
		end, err = ScanNumber(s, i)
	default:
		err = syntaxError(i, "unexpected character, expected a value")
	}
	if err != nil {
		return Value{}, 0, err
	}
	return Value{Kind: kind, Raw: s[i:end], Offset: i}, end, nil
}

// Literal reads the null, true or false at s[i] and returns its kind and the offset just past
// it, or Missing when there is none.
func Literal(s string, i int) (Kind, int) {
	for _, l := range [...]struct {
		text string
		kind Kind
	}{{"null", Null}, {"true", True}, {"false", False}} {
		if strings.HasPrefix(s[i:], l.text) {
			return l.kind, i + len(l.text)
		}
	}
	return Missing, 0
}

// parseContainer checks the object or array at s[i] and returns the offset just past it.
func parseContainer(s string, i, depth int, object bool) (int, *SyntaxError) {
	closer := byte(']')
	if object {
		closer = '}'
	}
	i = SkipSpace(s, i+1)
	if i < len(s) && s[i] == closer {
		return i + 1, nil
	}
	for {
		if object {
			if i >= len(s) || s[i] != '"' {
				return 0, syntaxError(i, "expected a string as object key")
			}
			end, _, err := ScanString(s, i)
			if err != nil {
				return 0, err
			}
			if i = SkipSpace(s, end); i >= len(s) || s[i] != ':' {
				return 0, syntaxError(i, "expected ':' after object key")
			}
			i = SkipSpace(s, i+1)
		}
		_, end, err := parseValue(s, i, depth+1)
		if err != nil {
			return 0, err
		}
		i = SkipSpace(s, end)
		switch {
		case i < len(s) && s[i] == ',':
			i = SkipSpace(s, i+1)
		case i < len(s) && s[i] == closer:
			return i + 1, nil
		default:
			return 0, syntaxError(i, "expected ',' or '"+string(closer)+"'")
		}
	}
}

// Str is the text of a string value, unescaped, and "" for any other kind.
func (v Value) Str() string {
	if v.Kind != String || len(v.Raw) < 2 {
		return ""
	}
	raw := v.Raw[1 : len(v.Raw)-1]
	if strings.IndexByte(raw, '\\') < 0 {
		return raw
	}
	return Unescape(raw)
}

// Members calls fn with each member of an object in document order, with the offset of the
// member's key in the document, until fn returns false. It does nothing for other kinds.
func (v Value) Members(fn func(key string, keyOffset int, val Value) bool) {
	if v.Kind != Object {
		return
	}
	v.each(func(key Value, val Value) bool { return fn(key.Str(), key.Offset, val) })
}

// Elements calls fn with each element of an array in order until fn returns false. It does
// nothing for other kinds.
func (v Value) Elements(fn func(Value) bool) {
	if v.Kind != Array {
		return
	}
	v.each(func(_ Value, val Value) bool { return fn(val) })
}

// Get is the first member of an object named key; Missing when there is none or v is not an
// object.
func (v Value) Get(key string) Value {
	var found Value
	v.Members(func(k string, _ int, val Value) bool {
		if k == key {
			found = val
			return false
		}
		return true
	})
	return found
}

// each walks the members (key and value) or elements (zero key) of a container that Parse
// accepted. It relies on that: each value's end is found by skip, which does not check.
func (v Value) each(fn func(key, val Value) bool) {
	s, base := v.Raw, v.Offset
	object := v.Kind == Object
	i := SkipSpace(s, 1)
	for i < len(s)-1 {
		var key Value
		if object {
			end, _, err := ScanString(s, i)
			if err != nil {
				return
			}
			key = Value{Kind: String, Raw: s[i:end], Offset: base + i}
			i = SkipSpace(s, SkipSpace(s, end)+1)
		}
		kind, end := skip(s, i)
		if kind == Missing || end <= i {
			return
		}
		if !fn(key, Value{Kind: kind, Raw: s[i:end], Offset: base + i}) {
			return
		}
		i = SkipSpace(s, end)
		if i < len(s) && s[i] == ',' {
			i = SkipSpace(s, i+1)
		}
	}
}

// skip returns the kind of the valid value at s[i] and the offset just past it.
func skip(s string, i int) (Kind, int) {
	if i >= len(s) {
		return Missing, 0
	}
	switch c := s[i]; {
	case c == '"':
		end, _, err := ScanString(s, i)
		if err != nil {
			return Missing, 0
		}
		return String, end
	case c == '{' || c == '[':
		kind := Array
		if c == '{' {
			kind = Object
		}
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				end, _, err := ScanString(s, j)
				if err != nil {
					return Missing, 0
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return kind, j + 1
				}
			}
		}
		return Missing, 0
	case c == '-' || isDigit(c):
		end, err := ScanNumber(s, i)
		if err != nil {
			return Missing, 0
		}
		return Number, end
	default:
		return Literal(s, i)
	}
}
