package filter

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// bodyCase is one parseBody case. wantErr is a prefix of the expected error message ("" means
// the body is accepted and want is the result).
type bodyCase struct {
	name    string
	kind    bodyKind
	body    string
	want    verifyParams
	wantErr string
	dotted  bool // the error is SPEC row 5
}

const (
	rowDotted    = dottedKeyMsg
	rowMalformed = "malformed JSON body: "
	rowInvalid   = rowMalformed + "not valid JSON" // gjson's verdict: it does not say where
)

func nestedJSON(levels int) string {
	// levels objects, innermost holding 1: {"a":{"a":...1...}}
	return strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels)
}

func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k`)
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

var bodyCases = []bodyCase{
	// --- JSON: the documented body and aliases.
	{name: "documented body", body: `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456","scope":"openid"}`,
		want: verifyParams{clientID: "acme-web", connection: "email", username: "a@example.com", code: "123456", scope: "openid"}},
	{name: "auth0.js body", body: `{"client_id":"c","connection":"sms","phone_number":"+15550100","verification_code":"000111"}`,
		want: verifyParams{clientID: "c", connection: "sms", username: "+15550100", code: "000111"}},
	{name: "email alias", body: `{"email":"e@x","password":"p"}`, want: verifyParams{username: "e@x", code: "p"}},
	{name: "username beats email and phone", body: `{"phone_number":"p","email":"e","username":"u"}`, want: verifyParams{username: "u"}},
	{name: "email beats phone", body: `{"phone_number":"p","email":"e"}`, want: verifyParams{username: "e"}},
	{name: "empty username falls to email", body: `{"username":"","email":"a@b"}`, want: verifyParams{username: "a@b"}},
	{name: "numeric username falls to email", body: `{"username":5,"email":"a@b"}`, want: verifyParams{username: "a@b"}},
	{name: "null username and email fall to phone", body: `{"username":null,"email":null,"phone_number":"+1"}`, want: verifyParams{username: "+1"}},
	{name: "object username is missing", body: `{"username":{"x":1}}`, want: verifyParams{}},
	{name: "password beats verification_code and otp", body: `{"otp":"3","verification_code":"2","password":"1"}`, want: verifyParams{code: "1"}},
	{name: "verification_code beats otp", body: `{"otp":"3","verification_code":"2"}`, want: verifyParams{code: "2"}},
	{name: "empty password falls to otp", body: `{"password":"","otp":"3"}`, want: verifyParams{code: "3"}},
	{name: "numeric codes are missing", body: `{"password":123456,"verification_code":true,"otp":[1]}`, want: verifyParams{}},
	{name: "numeric otp after string code", body: `{"otp":123456,"verification_code":"x"}`, want: verifyParams{code: "x"}},
	{name: "client_id number", body: `{"client_id":1}`, want: verifyParams{}},
	{name: "client_id null", body: `{"client_id":null}`, want: verifyParams{}},
	{name: "client_id empty", body: `{"client_id":""}`, want: verifyParams{}},
	{name: "client_id array", body: `{"client_id":["a"]}`, want: verifyParams{}},
	{name: "connection bool", body: `{"connection":false}`, want: verifyParams{}},
	{name: "empty object", body: `{}`, want: verifyParams{}},
	{name: "unknown fields ignored", body: `{"foo":{"bar":[1,2,{"baz":null}]},"client_id":"c"}`, want: verifyParams{clientID: "c"}},
	{name: "dotted value is fine", body: `{"client_id":"a.b","username":"first.last@x.io"}`, want: verifyParams{clientID: "a.b", username: "first.last@x.io"}},
	{name: "gjson path characters in keys", body: `{"*":1,"?":2,"client_id":"c","a|b":3,"#":4}`, want: verifyParams{clientID: "c"}},

	// --- JSON: scope.
	{name: "scope absent", body: `{"client_id":"c"}`, want: verifyParams{clientID: "c"}},
	{name: "scope null", body: `{"scope":null}`, want: verifyParams{}},
	{name: "scope string", body: `{"scope":"openid profile"}`, want: verifyParams{scope: "openid profile"}},
	{name: "scope empty string", body: `{"scope":""}`, want: verifyParams{}},
	{name: "scope number", body: `{"scope":5}`, want: verifyParams{scopeInvalid: true}},
	{name: "scope bool", body: `{"scope":true}`, want: verifyParams{scopeInvalid: true}},
	{name: "scope array", body: `{"scope":["openid"]}`, want: verifyParams{scopeInvalid: true}},
	{name: "scope object", body: `{"scope":{}}`, want: verifyParams{scopeInvalid: true}},

	// --- JSON: escapes and whitespace.
	{name: "escaped value", body: `{"client_id":"a\u0062c\n\t\"\\\/"}`, want: verifyParams{clientID: "abc\n\t\"\\/"}},
	{name: "escaped key", body: `{"\u0063lient_id":"x"}`, want: verifyParams{clientID: "x"}},
	{name: "surrogate pair", body: `{"username":"\ud83d\ude00"}`, want: verifyParams{username: "😀"}},
	{name: "raw unicode", body: `{"username":"jürgen@例え.jp"}`, want: verifyParams{username: "jürgen@例え.jp"}},
	{name: "escaped NUL is a character", body: `{"client_id":"\u0000"}`, want: verifyParams{clientID: "\x00"}},
	{name: "whitespace everywhere", body: " \r\n\t{ \"client_id\" :\t\"c\" , \"a\" : [ 1 , 2 ] , \"b\" : { } , \"d\" : [ ] }\r\n ",
		want: verifyParams{clientID: "c"}},
	{name: "numbers and literals", body: `{"a":-0.5e+10,"b":0,"c":1E-2,"d":[true,false,null,-0,12.25,1e5]}`, want: verifyParams{}},
	{name: "64 levels", body: nestedJSON(maxBodyDepth), want: verifyParams{}},
	{name: "63 levels plus array", body: strings.Repeat(`{"a":`, maxBodyDepth-1) + "[]" + strings.Repeat("}", maxBodyDepth-1), want: verifyParams{}},

	// --- JSON: not an object.
	{name: "empty body", body: "", wantErr: "body is empty, it must be a JSON object"},
	{name: "whitespace-only body", body: " \n\t\r ", wantErr: "body is empty, it must be a JSON object"},
	{name: "array", body: `[{"client_id":"c"}]`, wantErr: "body must be a JSON object"},
	{name: "string", body: `"x"`, wantErr: "body must be a JSON object"},
	{name: "number", body: `5`, wantErr: "body must be a JSON object"},
	{name: "null", body: `null`, wantErr: "body must be a JSON object"},
	{name: "form sent as JSON", body: `client_id=c&username=u`, wantErr: "body must be a JSON object"},
	{name: "BOM", body: "\uFEFF{}", wantErr: "body must be a JSON object"},

	// --- JSON: malformed.
	{name: "unterminated object", body: `{`, wantErr: rowMalformed + "unexpected end at byte 1"},
	{name: "unterminated member", body: `{"a":1,`, wantErr: rowMalformed},
	{name: "key without value", body: `{"a"}`, wantErr: rowInvalid},
	{name: "missing value", body: `{"a":}`, wantErr: rowInvalid},
	{name: "trailing comma", body: `{"a":1,}`, wantErr: rowInvalid},
	{name: "trailing comma in array", body: `{"a":[1,]}`, wantErr: rowMalformed},
	{name: "lone comma", body: `{,}`, wantErr: rowMalformed},
	{name: "missing comma", body: `{"a":1 "b":2}`, wantErr: rowInvalid},
	{name: "single quotes", body: `{'a':1}`, wantErr: rowMalformed},
	{name: "bare key", body: `{a:1}`, wantErr: rowMalformed},
	{name: "bad literal", body: `{"a":tru}`, wantErr: rowInvalid},
	{name: "literal with suffix", body: `{"a":truex}`, wantErr: rowMalformed},
	{name: "capital literal", body: `{"a":True}`, wantErr: rowMalformed},
	{name: "leading zero", body: `{"a":01}`, wantErr: rowMalformed},
	{name: "dot without fraction", body: `{"a":1.}`, wantErr: rowInvalid},
	{name: "bare minus", body: `{"a":-}`, wantErr: rowMalformed},
	{name: "empty exponent", body: `{"a":1e}`, wantErr: rowMalformed},
	{name: "leading dot", body: `{"a":.5}`, wantErr: rowMalformed},
	{name: "plus sign", body: `{"a":+1}`, wantErr: rowMalformed},
	{name: "NaN", body: `{"a":NaN}`, wantErr: rowMalformed},
	{name: "hex number", body: `{"a":0x10}`, wantErr: rowMalformed},
	{name: "invalid escape", body: `{"a":"\x"}`, wantErr: rowMalformed + "invalid escape in string at byte 6"},
	{name: "short unicode escape", body: `{"a":"\u12"}`, wantErr: rowMalformed},
	{name: "non-hex unicode escape", body: `{"a":"\u12g4"}`, wantErr: rowMalformed},
	{name: "raw newline in string", body: "{\"a\":\"x\ny\"}", wantErr: rowInvalid},
	{name: "raw tab in key", body: "{\"a\tb\":1}", wantErr: rowMalformed},
	{name: "unterminated string", body: `{"a":"abc`, wantErr: rowMalformed},
	{name: "backslash at end", body: `{"a":"\`, wantErr: rowMalformed},
	{name: "extra closing brace", body: `{"a":1}}`, wantErr: rowMalformed + "unbalanced brackets at byte 7"},
	{name: "trailing garbage", body: `{"a":1} x`, wantErr: rowInvalid},
	{name: "two objects", body: `{"a":1}{"b":2}`, wantErr: rowMalformed},
	{name: "mismatched brackets", body: `{"a":[1,2}`, wantErr: rowMalformed},
	{name: "mismatched object", body: `{"a":{]}`, wantErr: rowMalformed},
	{name: "comment", body: `{"a":1 /* c */}`, wantErr: rowMalformed},
	{name: "NUL after object", body: "{}\x00", wantErr: rowMalformed},

	// --- JSON: UTF-8 and surrogates.
	{name: "invalid UTF-8 in value", body: "{\"a\":\"\xff\"}", wantErr: "body is not valid UTF-8"},
	{name: "invalid UTF-8 in key", body: "{\"\xc3\":1}", wantErr: "body is not valid UTF-8"},
	{name: "UTF-8 encoded surrogate", body: "{\"a\":\"\xed\xa0\x80\"}", wantErr: "body is not valid UTF-8"},
	{name: "overlong UTF-8", body: "{\"a\":\"\xc0\xaf\"}", wantErr: "body is not valid UTF-8"},
	{name: "invalid UTF-8 outside strings", body: "{\"a\":1}\xff", wantErr: "body is not valid UTF-8"},
	{name: "lone high surrogate", body: `{"a":"\ud800"}`, wantErr: rowMalformed + `unpaired UTF-16 surrogate in \u escape at byte 6`},
	{name: "lone low surrogate", body: `{"a":"\udc00"}`, wantErr: rowMalformed + `unpaired UTF-16 surrogate in \u escape at byte 6`},
	{name: "high surrogate then BMP escape", body: `{"a":"\ud800\u0041"}`, wantErr: rowMalformed},
	{name: "high surrogate then text", body: `{"a":"\uD800xxxxxx"}`, wantErr: rowMalformed},
	{name: "two high surrogates", body: `{"a":"\ud800\ud800"}`, wantErr: rowMalformed},
	{name: "lone surrogate in key", body: `{"\udfff":1}`, wantErr: rowMalformed},

	// --- JSON: duplicate keys.
	{name: "duplicate top-level key", body: `{"a":1,"a":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate username", body: `{"username":"a","email":"x","username":"b"}`, wantErr: `duplicate key "username" in JSON body`},
	{name: "duplicate nested key", body: `{"x":{"b":1,"c":2,"b":3}}`, wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate key in array element", body: `{"x":[{"c":1},{"c":1,"c":2}]}`, wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate via escape", body: `{"a":1,"\u0061":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate code via escape", body: `{"otp":"1","\u006ftp":"2"}`, wantErr: `duplicate key "otp" in JSON body`},
	{name: "duplicate via surrogate pair", body: `{"😀":1,"\ud83d\ude00":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate after nested object closes", body: `{"a":{"b":1},"b":2,"a":3}`, wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate deep", body: strings.Repeat(`{"a":`, 20) + `{"z":1,"z":2}` + strings.Repeat("}", 20), wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate with escaped quote", body: `{"a\"b":1,"a\u0022b":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "same key in sibling objects", body: `{"x":[{"c":1},{"c":2}],"y":{"c":3}}`, want: verifyParams{}},
	{name: "same key at different depths", body: `{"a":{"a":{"a":1}},"b":[{"a":2}]}`, want: verifyParams{}},
	{name: "many distinct keys", body: manyKeys(3000, `,"client_id":"c"`), want: verifyParams{clientID: "c"}},
	{name: "many keys with late duplicate", body: manyKeys(3000, `,"kaaa":2`), wantErr: `a key is given twice in the JSON body`},
	{name: "17 keys then duplicate of the first", body: manyKeys(17, `,"kaaa":2`), wantErr: `a key is given twice in the JSON body`},
	{name: "many keys nested, then duplicate in parent", body: `{"p":1,"n":` + manyKeys(40, "") + `,"q":1,"p":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "long duplicate key is not repeated", body: `{"` + strings.Repeat("k", 200) + `":1,"` + strings.Repeat("k", 200) + `":2}`,
		wantErr: `a key is given twice in the JSON body`},
	{name: "duplicate key that is not a name", body: `{"123456":1,"123456":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "dotted key that is not a name", body: `{"1.2":1}`, wantErr: rowDotted, dotted: true},

	// --- JSON: dotted keys (row 5), and their ordering against row 4.
	{name: "dotted top-level key", body: `{"a.b":1}`, wantErr: rowDotted, dotted: true},
	{name: "dotted key named like a field", body: `{"client_id":"c","user.name":"x"}`, wantErr: rowDotted, dotted: true},
	{name: "dotted nested key", body: `{"x":{"y.z":1}}`, wantErr: rowDotted, dotted: true},
	{name: "dotted key in array", body: `{"x":[1,{"a.b":2}]}`, wantErr: rowDotted, dotted: true},
	{name: "dotted key escaped", body: `{"a\u002eb":1}`, wantErr: rowDotted, dotted: true},
	{name: "dot only", body: `{".":1}`, wantErr: rowDotted, dotted: true},
	{name: "dotted key is not repeated", body: `{"a.1":1,"a.2":2}`, wantErr: rowDotted, dotted: true},
	{name: "dotted then duplicate", body: `{"a.b":1,"c":1,"c":2}`, wantErr: `a key is given twice in the JSON body`},
	{name: "dotted then malformed", body: `{"a.b":1,`, wantErr: rowMalformed},
	{name: "dotted then trailing garbage", body: `{"a.b":1}x`, wantErr: rowMalformed},
	{name: "dotted then too deep", body: `{"a.b":1,"c":` + nestedJSON(maxBodyDepth) + `}`, wantErr: "JSON body is nested too deep"},
	{name: "dotted then lone surrogate", body: `{"a.b":"\ud800"}`, wantErr: rowMalformed},

	// --- JSON: nesting.
	{name: "65 levels", body: nestedJSON(maxBodyDepth + 1), wantErr: "JSON body is nested too deep (more than 64 levels)"},
	{name: "10000 {\"a\":", body: strings.Repeat(`{"a":`, 10000), wantErr: "JSON body is nested too deep"},
	{name: "10000 [", body: strings.Repeat("[", 10000), wantErr: "body must be a JSON object"},
	{name: "object then 10000 [", body: `{"a":` + strings.Repeat("[", 10000), wantErr: "JSON body is nested too deep"},
	{name: "10000 balanced", body: `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}", wantErr: "JSON body is nested too deep"},

	// --- Form.
	{name: "form documented body", kind: bodyForm,
		body: "client_id=acme-web&connection=email&email=a%40example.com&verification_code=123456&scope=openid+profile",
		want: verifyParams{clientID: "acme-web", connection: "email", username: "a@example.com", code: "123456", scope: "openid profile"}},
	{name: "form aliases and precedence", kind: bodyForm, body: "phone_number=%2B1555&otp=9&username=&password=",
		want: verifyParams{username: "+1555", code: "9"}},
	{name: "form username beats email", kind: bodyForm, body: "email=e&username=u", want: verifyParams{username: "u"}},
	{name: "form escapes", kind: bodyForm, body: "client_id=a%20b+c%2bd%3D%26%25&connection=%E4%BE%8B", want: verifyParams{clientID: "a b c+d=&%", connection: "例"}},
	{name: "form lower and upper hex", kind: bodyForm, body: "client_id=%c3%a9%C3%A9", want: verifyParams{clientID: "éé"}},
	{name: "form escaped key", kind: bodyForm, body: "user%6Eame=x&client%5Fid=c", want: verifyParams{username: "x", clientID: "c"}},
	{name: "form value with =", kind: bodyForm, body: "client_id=a=b", want: verifyParams{clientID: "a=b"}},
	{name: "form key without =", kind: bodyForm, body: "client_id&connection=email", want: verifyParams{connection: "email"}},
	{name: "form empty pairs", kind: bodyForm, body: "&&client_id=c&&&connection=e&", want: verifyParams{clientID: "c", connection: "e"}},
	{name: "form empty body", kind: bodyForm, body: "", want: verifyParams{}},
	{name: "form only separators", kind: bodyForm, body: "&&&", want: verifyParams{}},
	{name: "form duplicate is an array", kind: bodyForm, body: "username=a&username=a&email=e", want: verifyParams{username: "e"}},
	{name: "form duplicate client_id", kind: bodyForm, body: "client_id=a&client_id=b", want: verifyParams{}},
	{name: "form duplicate via escape", kind: bodyForm, body: "otp=1&%6Ftp=2", want: verifyParams{}},
	{name: "form triple", kind: bodyForm, body: "connection=a&connection=b&connection=c", want: verifyParams{}},
	{name: "form duplicate empty value", kind: bodyForm, body: "password=&password=1&otp=2", want: verifyParams{code: "2"}},
	{name: "form scope", kind: bodyForm, body: "scope=openid", want: verifyParams{scope: "openid"}},
	{name: "form scope empty", kind: bodyForm, body: "scope=", want: verifyParams{}},
	{name: "form scope without =", kind: bodyForm, body: "scope", want: verifyParams{}},
	{name: "form scope twice", kind: bodyForm, body: "scope=openid&scope=openid", want: verifyParams{scopeInvalid: true}},
	{name: "form semicolon is ordinary", kind: bodyForm, body: "client_id=a;b&x;y=1", want: verifyParams{clientID: "a;b"}},
	{name: "form JSON-looking body", kind: bodyForm, body: `{"client_id":"c"}`, want: verifyParams{}},
	{name: "form bad escape at end", kind: bodyForm, body: "client_id=c&otp=12%", wantErr: "malformed form body: invalid percent-escape at byte 18"},
	{name: "form short escape", kind: bodyForm, body: "a=%4", wantErr: "malformed form body: invalid percent-escape at byte 2"},
	{name: "form non-hex escape", kind: bodyForm, body: "a=%zz", wantErr: "malformed form body"},
	{name: "form half-hex escape", kind: bodyForm, body: "a=%4g", wantErr: "malformed form body"},
	{name: "form bad escape in key", kind: bodyForm, body: "x=1&%g1=2", wantErr: "malformed form body: invalid percent-escape at byte 4"},
	{name: "form bad escape in ignored field", kind: bodyForm, body: "foo=%%", wantErr: "malformed form body"},
	{name: "form invalid UTF-8 escaped value", kind: bodyForm, body: "client_id=%ff", wantErr: "body is not valid UTF-8"},
	{name: "form invalid UTF-8 escaped key", kind: bodyForm, body: "%ff=1", wantErr: "body is not valid UTF-8"},
	{name: "form invalid UTF-8 raw", kind: bodyForm, body: "a=\xff", wantErr: "body is not valid UTF-8"},
	{name: "form invalid UTF-8 raw key", kind: bodyForm, body: "\xc3=1", wantErr: "body is not valid UTF-8"},
	{name: "form escaped surrogate", kind: bodyForm, body: "a=%ED%A0%80", wantErr: "body is not valid UTF-8"},
	{name: "form truncated sequence", kind: bodyForm, body: "a=%C3", wantErr: "body is not valid UTF-8"},
	{name: "form sequence split by escape", kind: bodyForm, body: "a=%C3\xa9", want: verifyParams{}},
	{name: "form dotted key", kind: bodyForm, body: "client_id=c&a.b=1", wantErr: rowDotted, dotted: true},
	{name: "form escaped dotted key", kind: bodyForm, body: "a%2Eb=1", wantErr: rowDotted, dotted: true},
	{name: "form dotted key without value", kind: bodyForm, body: "x.y", wantErr: rowDotted, dotted: true},
	{name: "form dotted value is fine", kind: bodyForm, body: "email=a.b%40c.d", want: verifyParams{username: "a.b@c.d"}},
	{name: "form dotted then bad escape", kind: bodyForm, body: "a.b=1&c=%", wantErr: "malformed form body"},
	{name: "form dotted then invalid UTF-8", kind: bodyForm, body: "a.b=1&c=%ff", wantErr: "body is not valid UTF-8"},

	// --- Unknown kind.
	{name: "unknown kind", kind: 7, body: `{}`, wantErr: "unsupported body encoding"},
}

func TestParseBody(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBody(tc.kind, []byte(tc.body))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parseBody(%q) error %q, want %+v", tc.body, err.description(), tc.want)
				}
				if got != tc.want {
					t.Fatalf("parseBody(%q) = %+v, want %+v", tc.body, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseBody(%q) = %+v, want error %q", tc.body, got, tc.wantErr)
			}
			if !strings.HasPrefix(err.description(), tc.wantErr) {
				t.Fatalf("parseBody(%q) error %q, want prefix %q", tc.body, err.description(), tc.wantErr)
			}
			if (err.kind == ErrDottedField) != tc.dotted {
				t.Fatalf("parseBody(%q) dotted = %v, want %v", tc.body, err.kind == ErrDottedField, tc.dotted)
			}
			if (err.kind != ErrInvalidBody && err.kind != ErrDottedField) || !utf8.ValidString(err.description()) {
				t.Fatalf("bad error text %q", err.description())
			}
			if got != (verifyParams{}) {
				t.Fatalf("parseBody(%q) returned params %+v with an error", tc.body, got)
			}
		})
	}
}

// TestParseBodyDeepIsFast makes sure hostile nesting is rejected early, not after walking
// (or recursing through) the whole body.
func TestParseBodyDeepIsFast(t *testing.T) {
	bodies := []string{
		strings.Repeat("[", 1<<20),
		strings.Repeat(`{"a":`, 1<<18),
		`{"a":` + strings.Repeat("[", 1<<20),
		`{"a":` + strings.Repeat(`{"":`, 1<<18),
	}
	for _, b := range bodies {
		start := time.Now()
		_, err := parseBody(bodyJSON, []byte(b))
		if err == nil || err.kind == ErrDottedField {
			t.Fatalf("deep body of %d bytes accepted or misclassified: %v", len(b), err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("deep body of %d bytes took %v", len(b), d)
		}
	}
}

// TestParseBodyNeverEchoesCode checks that no rejected body's message repeats the code.
func TestParseBodyNeverEchoesCode(t *testing.T) {
	const secret = "S3CR3T-0TP"
	bodies := []struct {
		kind bodyKind
		body string
	}{
		{bodyJSON, `{"password":"` + secret + `",`},
		{bodyJSON, `{"password":"` + secret + `"} x`},
		{bodyJSON, `{"otp":"` + secret + "\x01\"}"},
		{bodyJSON, `{"otp":"` + secret + `\q"}`},
		{bodyJSON, `{"otp":"` + secret + `","otp":"` + secret + `"}`},
		{bodyJSON, `{"otp":"` + secret + `","a.b":1}`},
		{bodyJSON, `{"otp":"` + secret + `\ud800"}`},
		{bodyJSON, `{"otp":` + secret + `}`},
		{bodyJSON, `{"otp":"` + secret + "\xff\"}"},
		{bodyJSON, `["` + secret + `"]`},
		{bodyForm, "otp=" + secret + "%"},
		{bodyForm, "otp=" + secret + "%ff"},
		{bodyForm, "otp=" + secret + "&a.b=1"},
	}
	for _, b := range bodies {
		_, err := parseBody(b.kind, []byte(b.body))
		if err == nil {
			t.Fatalf("parseBody(%q) accepted", b.body)
		}
		if strings.Contains(err.description(), "S3CR3T") {
			t.Fatalf("error for %q echoes the code: %q", b.body, err.description())
		}
	}
}

func TestStripCodeFields(t *testing.T) {
	cases := []struct {
		name string
		kind bodyKind
		body string
		want string
	}{
		{"json all code fields", bodyJSON,
			`{"client_id":"x", "password":"1","a":{"otp":1},"otp":"2","verification_code":"3","b" : [1, 2]}`,
			`{"client_id":"x","a":{"otp":1},"b" : [1, 2]}`},
		{"json first member stripped", bodyJSON, `{"otp":"1","client_id":"c","n":-1.5e3,"t":true,"z":null}`,
			`{"client_id":"c","n":-1.5e3,"t":true,"z":null}`},
		{"json last member stripped", bodyJSON, `{"client_id":"c","otp":"1"}`, `{"client_id":"c"}`},
		{"json escaped code key", bodyJSON, `{"\u0070assword":"1","a":"\u00e9\"}"}`, `{"a":"\u00e9\"}"}`},
		{"json only code fields", bodyJSON, `{"password":"1","otp":2}`, `{}`},
		{"json whitespace around", bodyJSON, "\n { \"otp\" : \"1\" ,\n \"a\"\t:\t1 } \n", "{\"a\"\t:\t1}"},
		{"json nothing to strip", bodyJSON, `{ "a" : 1 }`, `{ "a" : 1 }`},
		{"json code-like nested only", bodyJSON, `{"x":{"password":"1"}}`, `{"x":{"password":"1"}}`},
		{"json empty object", bodyJSON, `{}`, `{}`},
		{"form all code fields", bodyForm, "client_id=x&password=1&otp=2&verification_code=3&b=%41", "client_id=x&b=%41"},
		{"form escaped code key", bodyForm, "pass%77ord=1&a=1&otp", "a=1"},
		{"form empty pairs", bodyForm, "&&otp=1&&a=1&&b&", "a=1&b"},
		{"form only code", bodyForm, "otp=1&password=2", ""},
		{"form nothing to strip", bodyForm, "a=1&&b=2", "a=1&&b=2"},
		{"form code-like values kept", bodyForm, "a=otp&b=password", "a=otp&b=password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, err := parseBody(tc.kind, []byte(tc.body))
			if err != nil {
				t.Fatalf("parseBody(%q): %v", tc.body, err)
			}
			got := stripCodeFields(tc.kind, []byte(tc.body))
			if string(got) != tc.want {
				t.Fatalf("stripCodeFields(%q) = %q, want %q", tc.body, got, tc.want)
			}
			after, err := parseBody(tc.kind, got)
			if tc.kind == bodyJSON && err != nil {
				t.Fatalf("stripped body %q rejected: %v", got, err)
			}
			if err == nil {
				before.code = ""
				if after != before {
					t.Fatalf("stripped body reads %+v, want %+v", after, before)
				}
			}
		})
	}
	// Nothing to strip: the very same slice comes back, no copy.
	body := []byte(`{"a":1}`)
	if got := stripCodeFields(bodyJSON, body); &got[0] != &body[0] {
		t.Fatal("stripCodeFields copied a body with nothing to strip")
	}
	if got := stripCodeFields(7, body); !bytes.Equal(got, body) {
		t.Fatal("stripCodeFields changed a body of unknown kind")
	}
}

// benchBodies are typical ~150-byte bodies, one of each kind.
var benchBodies = []struct {
	name string
	kind bodyKind
	body []byte
}{
	{"json", bodyJSON, []byte(`{"client_id":"acme-web-7f3a9c","connection":"email","email":"alice.smith@example.com","verification_code":"482915","scope":"openid profile email"}`)},
	{"form", bodyForm, []byte(`client_id=acme-web-7f3a9c&connection=email&email=alice.smith%40example.com&verification_code=482915&scope=openid+profile+email&send=code`)},
}

func BenchmarkParseBody(b *testing.B) {
	for _, bc := range benchBodies {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := parseBody(bc.kind, bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStripCodeFields(b *testing.B) {
	for _, bc := range benchBodies {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				stripCodeFields(bc.kind, bc.body)
			}
		})
	}
}
