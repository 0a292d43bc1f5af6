package jsonread

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		kind Kind
		err  string // a part of the error; "" for valid
	}{
		{doc: `{}`, kind: Object},
		{doc: " \t\r\n[1, -0.5e+3, \"a\", true, false, null, {}] \n", kind: Array},
		{doc: `"\u00e9\ud83d\ude00\n"`, kind: String},
		{doc: `0`, kind: Number},
		{doc: ``, err: "byte 0: unexpected end, expected a value"},
		{doc: `   `, err: "byte 3: unexpected end"},
		{doc: `{"a":1,}`, err: "byte 7: expected a string as object key"},
		{doc: `[1,]`, err: "byte 3: unexpected character"},
		{doc: `{"a" 1}`, err: "byte 5: expected ':'"},
		{doc: `{"a":1 "b":2}`, err: "byte 7: expected ',' or '}'"},
		{doc: `[1 2]`, err: "byte 3: expected ',' or ']'"},
		{doc: `{} {}`, err: "byte 3: unexpected data after the value"},
		{doc: `01`, err: "byte 1: unexpected data"},
		{doc: `1.`, err: "byte 0: invalid number"},
		{doc: `-`, err: "byte 0: invalid number"},
		{doc: `1e`, err: "byte 0: invalid number"},
		{doc: `+1`, err: "unexpected character"},
		{doc: `tru`, err: "byte 0: invalid literal"},
		{doc: `nul`, err: "invalid literal"},
		{doc: `"a`, err: "byte 2: unexpected end inside a string"},
		{doc: `"a\`, err: "byte 3: unexpected end inside a string"},
		{doc: `"\x"`, err: "byte 1: invalid escape"},
		{doc: `"\u12"`, err: `invalid \u escape`},
		{doc: `"\ud800"`, err: "unpaired UTF-16 surrogate"},
		{doc: `"\udc00\ud800"`, err: "unpaired UTF-16 surrogate"},
		{doc: "\"a\tb\"", err: "byte 2: control character in string"},
		{doc: "\"\xff\"", err: "byte 1: invalid UTF-8"},
		{doc: "[" + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth), kind: Array},
		{doc: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), err: "nested more than 64"},
		{doc: strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), err: "nested more than 64"},
	} {
		v, err := Parse(tc.doc)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.doc, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.doc, err, tc.err)
		case tc.err == "" && v.Kind != tc.kind:
			t.Errorf("Parse(%q).Kind = %d, want %d", tc.doc, v.Kind, tc.kind)
		}
	}
}

func TestMembers(t *testing.T) {
	doc := ` {"a" : "x\"y", "b\u0063":[1,{"d":"}"}] ,"e":{},"f":-1.5e3,"g":null,"a":true}`
	v, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	v.Members(func(key string, keyOffset int, val Value) bool {
		if doc[keyOffset] != '"' || doc[val.Offset:val.Offset+len(val.Raw)] != val.Raw {
			t.Errorf("member %q: offsets %d, %d do not point into the document", key, keyOffset, val.Offset)
		}
		got = append(got, key+"="+val.Raw)
		return true
	})
	want := `a="x\"y" bc=[1,{"d":"}"}] e={} f=-1.5e3 g=null a=true`
	if strings.Join(got, " ") != want {
		t.Errorf("members: %s\nwant:    %s", strings.Join(got, " "), want)
	}
	if s := v.Get("a").Str(); s != `x"y` {
		t.Errorf(`Get("a").Str() = %q, want the first a`, s)
	}
	if k := v.Get("z").Kind; k != Missing {
		t.Errorf(`Get("z").Kind = %d, want Missing`, k)
	}
	var elems []string
	v.Get("bc").Elements(func(e Value) bool { elems = append(elems, e.Raw); return true })
	if strings.Join(elems, " ") != `1 {"d":"}"}` {
		t.Errorf("elements: %q", elems)
	}
	n := 0
	v.Members(func(string, int, Value) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Members went on after fn returned false: %d calls", n)
	}
}

// FuzzParse checks Parse against encoding/json: the same documents are valid (apart from our
// stricter rules: UTF-8, lone surrogates, depth), strings decode to the same text, and
// objects list the same members in the same order.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00","d":-0.1e-2}`, `[]`, `"x"`,
		`{"a":1,"a":2}`, `[1,`, `"\ud800"`, "\"\xff\"", `{"":{"":""}}`, `tru`, ` 0 `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		v, err := Parse(doc)
		want := json.Valid([]byte(doc)) && utf8.ValidString(doc) && depth(doc) <= MaxDepth && !loneSurrogate(doc)
		if (err == nil) != want {
			t.Fatalf("Parse(%q) error %v, encoding/json and our rules say valid=%v", doc, err, want)
		}
		if err != nil {
			return
		}
		compare(t, v)
	})
}

// compare checks v and everything in it against encoding/json's reading of v.Raw.
func compare(t *testing.T, v Value) {
	switch v.Kind {
	case String:
		var s string
		if err := json.Unmarshal([]byte(v.Raw), &s); err != nil || s != v.Str() {
			t.Fatalf("Str(%q) = %q, encoding/json: %q (%v)", v.Raw, v.Str(), s, err)
		}
	case Object:
		dec := json.NewDecoder(strings.NewReader(v.Raw))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		v.Members(func(key string, _ int, val Value) bool {
			tok, err := dec.Token()
			if err != nil || tok != key {
				t.Fatalf("in %q: key %q, encoding/json: %v (%v)", v.Raw, key, tok, err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil || !bytes.Equal(compact(raw), compact([]byte(val.Raw))) {
				t.Fatalf("in %q: %q is %q, encoding/json: %q (%v)", v.Raw, key, val.Raw, raw, err)
			}
			compare(t, val)
			return true
		})
		if dec.More() {
			t.Fatalf("in %q: members missed", v.Raw)
		}
	case Array:
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(v.Raw), &elems); err != nil {
			t.Fatal(err)
		}
		n := 0
		v.Elements(func(e Value) bool {
			if n >= len(elems) || !bytes.Equal(compact(elems[n]), compact([]byte(e.Raw))) {
				t.Fatalf("in %q: element %d is %q", v.Raw, n, e.Raw)
			}
			n++
			compare(t, e)
			return true
		})
		if n != len(elems) {
			t.Fatalf("in %q: %d elements, encoding/json: %d", v.Raw, n, len(elems))
		}
	}
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil
	}
	return out.Bytes()
}

// depth is the deepest nesting of brackets outside strings, for valid JSON.
func depth(doc string) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			d++
			most = max(most, d)
		case !inString && (c == ']' || c == '}'):
			d--
		}
	}
	return most
}

// loneSurrogate reports a \u escape of a surrogate that is not a high one followed by a low one.
func loneSurrogate(doc string) bool {
	inString := false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case c == '"':
			inString = !inString
		case inString && c == '\\' && i+1 < len(doc) && doc[i+1] != 'u':
			i++
		case inString && c == '\\':
			r, ok := hex4(doc, i+2)
			if ok && r >= 0xD800 && r < 0xDC00 {
				r2, ok2 := hex4(doc, i+8)
				if !ok2 || doc[i+6] != '\\' || doc[i+7] != 'u' || r2 < 0xDC00 || r2 > 0xDFFF {
					return true
				}
				i += 11
				continue
			}
			if ok && r >= 0xDC00 && r <= 0xDFFF {
				return true
			}
			i += 5
		}
	}
	return false
}
