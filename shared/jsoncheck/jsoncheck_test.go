package jsoncheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		dups   bool
		err    string // a part of the error; "" for accepted
		dotted bool
	}{
		{doc: `{}`},
		{doc: " \t\r\n[1, -0.5e+3, \"a\", true, false, null, {}] \n"},
		{doc: `"\u00e9\ud83d\ude00\n"`},
		{doc: `0`},
		{doc: `{"a.b":1}`, dotted: true},
		{doc: `{"x":[{"y":{"\u002e":1}}]}`, dotted: true},
		{doc: `{"a":"b.c"}`},
		{doc: ``, err: "not valid JSON"},
		{doc: `{"a":1,}`, err: "not valid JSON"},
		{doc: `{"a":1}x`, err: "not valid JSON"},
		{doc: `01`, err: "not valid JSON"},
		{doc: "\"a\tb\"", err: "not valid JSON"},
		{doc: `{"a":[1}`, err: "unbalanced brackets at byte 7"},
		{doc: `]`, err: "unbalanced brackets at byte 0"},
		{doc: `{"a":[`, err: "unexpected end at byte 6"},
		{doc: `"a`, err: "unexpected end inside a string at byte 2"},
		{doc: `"a\`, err: "unexpected end inside a string at byte 3"},
		{doc: `"\x"`, err: "invalid escape in string at byte 1"},
		{doc: `"\u12"`, err: `invalid \u escape at byte 1`},
		{doc: `"\ud800"`, err: "unpaired UTF-16 surrogate in \\u escape at byte 1"},
		{doc: `"\udc00\ud800"`, err: "unpaired UTF-16 surrogate"},
		{doc: `"\ud800\u0041"`, err: "unpaired UTF-16 surrogate"},
		{doc: "\"\xff\"", err: "invalid UTF-8 at byte 1"},
		{doc: "{\"a\":\"\xed\xa0\x80\"}", err: "invalid UTF-8 at byte 6"},
		{doc: "[" + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth)},
		{doc: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), err: "nested more than 64 levels deep at byte 64"},
		{doc: strings.Repeat(`{"a":`, 100000), err: "nested more than 64"},
		{doc: `{"a":1,"a":2}`},
		{doc: `{"a":1,"a":2}`, dups: true, err: "an object has the same key twice at byte 7"},
		{doc: `{"a":1,"\u0061":2}`, dups: true, err: "same key twice"},
		{doc: `{"😀":1,"\ud83d\ude00":2}`, dups: true, err: "same key twice"},
		{doc: `{"x":[{"c":1},{"c":2}],"y":{"c":3}}`, dups: true},
		{doc: `{"a":{"b":1},"b":2}`, dups: true},
		{doc: `{"a":"x","b":"x"}`, dups: true},
		{doc: manyKeys(3000, ""), dups: true},
		{doc: manyKeys(3000, `,"k0":2`), dups: true, err: "same key twice"},
		{doc: `{"p":1,"n":` + manyKeys(40, "") + `,"q":1,"p":2}`, dups: true, err: "same key twice"},
	} {
		dotted, err := Check([]byte(tc.doc), Options{Duplicates: tc.dups})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Check(%.80q): %v", tc.doc, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Check(%.80q) = %v, want an error with %q", tc.doc, err, tc.err)
		case err == nil && dotted != tc.dotted:
			t.Errorf("Check(%.80q) dotted = %v, want %v", tc.doc, dotted, tc.dotted)
		}
	}
}

// TestDuplicatePath: a duplicate names the object that holds it, as the configuration's
// errors do.
func TestDuplicatePath(t *testing.T) {
	for doc, want := range map[string][2]string{
		`{"a":1,"a":2}`: {"", "a"},
		`{"t":{"acme":{"c":{"x":1,"y":2,"x":3}}}}`: {"t.acme.c", "x"},
		`{"l":[1,{"k":1},{"k":1,"\u006b":2}]}`:     {"l.2", "k"},
		`{"a":{"b":{}},"c":{"d":[],"e":1,"e":{}}}`: {"c", "e"},
	} {
		_, err := Check([]byte(doc), Options{Duplicates: true})
		if err == nil || err.Problem != DuplicateKey || err.Object != want[0] || err.Key != want[1] {
			t.Errorf("Check(%q) = %+v, want the duplicate %q in %q", doc, err, want[1], want[0])
		}
	}
}

func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString(`{"k0":1`)
	for i := 1; i < n; i++ {
		b.WriteString(`,"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + i/26%26)))
		b.WriteString(string(rune('a' + i/676%26)))
		b.WriteString(`":1`)
	}
	b.WriteString(extra)
	b.WriteString("}")
	return b.String()
}

// FuzzCheck checks the pass plus gjson against encoding/json: the same documents are valid
// (apart from our stricter rules: UTF-8, lone surrogates, depth, duplicates), the dotted and
// duplicate verdicts match a reading of encoding/json's tokens, and gjson reads the same
// strings, members and elements as encoding/json.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00","d":-0.1e-2}`, `[]`, `"x"`,
		`{"a":1,"a":2}`, `[1,`, `"\ud800"`, "\"\xff\"", `{"":{"":""}}`, `tru`, ` 0 `, `{"a.b":{"\u0061":1,"a":2}}`,
		`{"x":[{"k":1},{"k":2}]}`, `{"a":"]"}`, `[[]]]`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, doc string, dups bool) {
		dotted, err := Check([]byte(doc), Options{Duplicates: dups})
		ref := reference(doc)
		want := ref.valid && (!dups || !ref.duplicate)
		if (err == nil) != want {
			t.Fatalf("Check(%q, dups=%v) = %v, reference: %+v", doc, dups, err, ref)
		}
		if err != nil {
			if ref.valid && err.Problem != DuplicateKey {
				t.Fatalf("Check(%q) = %v on a document that only has a duplicate key", doc, err)
			}
			return
		}
		if dotted != ref.dotted {
			t.Fatalf("Check(%q) dotted = %v, reference %v", doc, dotted, ref.dotted)
		}
		compare(t, gjson.Parse(doc))
	})
}

type refResult struct{ valid, duplicate, dotted bool }

// reference reads doc with encoding/json's token stream, which does not recurse.
func reference(doc string) refResult {
	if !json.Valid([]byte(doc)) || !utf8.ValidString(doc) || loneSurrogate(doc) {
		return refResult{}
	}
	r := refResult{valid: true}
	type frame struct {
		obj, expectKey bool
		keys           map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return r
		}
		if err != nil {
			return refResult{}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.obj && top.expectKey {
			r.duplicate = r.duplicate || top.keys[s]
			r.dotted = r.dotted || strings.Contains(s, ".")
			top.keys[s], top.expectKey = true, false
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.obj {
			top.expectKey = true
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) == MaxDepth {
				return refResult{}
			}
			stack = append(stack, &frame{obj: d == '{', expectKey: d == '{', keys: map[string]bool{}})
		}
	}
}

// compare checks v and everything in it against encoding/json's reading of v.Raw.
func compare(t *testing.T, v gjson.Result) {
	switch {
	case v.Type == gjson.String:
		var s string
		if err := json.Unmarshal([]byte(v.Raw), &s); err != nil || s != v.Str {
			t.Fatalf("Str(%q) = %q, encoding/json: %q (%v)", v.Raw, v.Str, s, err)
		}
	case v.IsObject():
		dec := json.NewDecoder(strings.NewReader(v.Raw))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		v.ForEach(func(key, val gjson.Result) bool {
			tok, err := dec.Token()
			if err != nil || tok != key.Str {
				t.Fatalf("in %q: key %q, encoding/json: %v (%v)", v.Raw, key.Str, tok, err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil || !bytes.Equal(compact(raw), compact([]byte(val.Raw))) {
				t.Fatalf("in %q: %q is %q, encoding/json: %q (%v)", v.Raw, key.Str, val.Raw, raw, err)
			}
			compare(t, val)
			return true
		})
		if dec.More() {
			t.Fatalf("in %q: members missed", v.Raw)
		}
	case v.IsArray():
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(v.Raw), &elems); err != nil {
			t.Fatal(err)
		}
		n := 0
		v.ForEach(func(_, e gjson.Result) bool {
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
