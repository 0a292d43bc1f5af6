package filter

// Request body parsing for POST /passwordless/verify (SPEC sections 4 and 5, rows 4, 5, 8-11).
//
// Everything here is pure: no proxy-wasm calls, no logging, no panics on any input. A JSON body
// goes through jsoncheck's strictness pass (UTF-8, lone surrogates, nesting depth, duplicate
// keys, dotted keys) and gjson's validator, and only then does gjson read the top-level
// members the filter reads. A form body is decoded by our own small x-www-form-urlencoded
// decoder (net/url would grow the wasm and decides some details, such as ';', differently
// from what we want).
//
// Error messages name byte offsets and keys, never values: the one-time code is a secret and
// may be anywhere in a rejected body.

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/passwordless-verify/filter/shared/jsoncheck"
)

// bodyKind is how the body is encoded, decided from the content-type header by the caller.
type bodyKind uint8

const (
	bodyJSON bodyKind = iota // content-type application/json or absent
	bodyForm                 // application/x-www-form-urlencoded
)

// maxBodyDepth is the deepest nesting of JSON objects and arrays accepted in a body, as in
// every JSON document the filter reads (SPEC 4); the top-level object is depth 1. The
// documented body is flat. The limit exists so that no reader of the body (this filter, the
// upstream in forward mode) can be made to work hard or recurse deeply by a hostile body.
const maxBodyDepth = jsoncheck.MaxDepth

// dottedKeyMsg is the SPEC row 5 error_description (a prefix: detail may follow).
const dottedKeyMsg = `Fields with "." are not allowed, please remove all dotted fields`

// verifyParams are the values the filter validates. A parameter that is absent, null, not a
// string, or the empty string is "" (missing).
type verifyParams struct {
	clientID, username, code, connection string
	scope                                string
	scopeInvalid                         bool // scope present, not null, and not a string (SPEC row 11)
	// Only in the query of GET verify_redirect (SPEC 12); "" in a POST body.
	redirectURI, state, nonce string
}

// Rejected bodies are SPEC row 4 (malformed body, duplicate key, too deep, invalid UTF-8) with
// a text that is clear and safe to show the client, or row 5 (a key containing ".").
var (
	errNotUTF8   = newErrorf(ErrInvalidBody, "body is not valid UTF-8")
	errEmptyJSON = newErrorf(ErrInvalidBody, "body is empty, it must be a JSON object")
	errNotObject = newErrorf(ErrInvalidBody, "body must be a JSON object")
	errTooDeep   = newErrorf(ErrInvalidBody, "JSON body is nested too deep (more than "+
		strconv.Itoa(maxBodyDepth)+" levels)")
	errBadKind      = newErrorf(ErrInvalidBody, "unsupported body encoding")
	errDuplicateKey = newErrorf(ErrInvalidBody, "a key is given twice in the JSON body")
	// errDottedKey never repeats the key: no parameter contains a ".", so the key is the
	// client's own text, which may hold the code (a JSON body sent as a form makes its whole
	// text one key).
	errDottedKey = newError(ErrDottedField)
)

// parseBody parses and checks a request body and returns the parameters the filter validates.
// A nil error means the body is accepted. Row 4 problems (malformed, invalid UTF-8,
// duplicate key, too deep) anywhere in the body take precedence over row 5 (dotted key), even
// when the dotted key comes first.
func parseBody(kind bodyKind, body []byte) (verifyParams, *apiError) {
	switch kind {
	case bodyJSON:
		return parseJSONBody(body)
	case bodyForm:
		return parseFormBody(body)
	}
	return verifyParams{}, errBadKind
}

// stripCodeFields returns the body without the top-level code fields password,
// verification_code and otp (SPEC 8 forward mode). body has already passed parseBody.
//
// JSON: the kept members of the top-level object are copied byte for byte (from the start of
// the key to the end of the value) and joined by ","; whitespace between members is not kept.
// Form: the kept non-empty pairs are copied byte for byte and joined by "&". Keys are compared
// after unescaping, so "\u0070assword" and "pass%77ord" are stripped too. When there is nothing
// to strip, body itself is returned.
func stripCodeFields(kind bodyKind, body []byte) []byte {
	switch kind {
	case bodyJSON:
		return stripJSONCodeFields(body)
	case bodyForm:
		return stripFormCodeFields(body)
	}
	return body
}

// The top-level fields the filter reads.
const (
	fClientID = iota
	fUsername
	fEmail
	fPhoneNumber
	fPassword
	fVerificationCode
	fOTP
	fConnection
	fScope
	numFields
)

func fieldIndex(key string) int {
	switch key {
	case "client_id":
		return fClientID
	case "username":
		return fUsername
	case "email":
		return fEmail
	case "phone_number":
		return fPhoneNumber
	case "password":
		return fPassword
	case "verification_code":
		return fVerificationCode
	case "otp":
		return fOTP
	case "connection":
		return fConnection
	case "scope":
		return fScope
	}
	return -1
}

func isCodeField(key string) bool {
	switch key {
	case "password", "verification_code", "otp":
		return true
	}
	return false
}

// valueKind is what a top-level field held.
type valueKind uint8

const (
	valAbsent valueKind = iota
	valNull
	valString
	valOther // number, bool, object, array; or a form field given more than once
)

type fieldValue struct {
	kind valueKind
	str  string // when kind == valString
}

type fieldSet [numFields]fieldValue

// str is the field's value, or "" when it is missing (absent, null, not a string, empty).
func (f *fieldSet) str(i int) string {
	if f[i].kind == valString {
		return f[i].str
	}
	return ""
}

// firstPresent implements the alias rule "the first present alias in that order wins". We
// read "present" as "not missing" under SPEC 4's definition of missing, so an alias that is
// null, not a string or "" is skipped and the next alias is used:
// {"username":"","email":"a@b"} and {"username":5,"email":"a@b"} both give "a@b". Duplicate
// keys are rejected, so no alias can be read differently by the filter and the user store.
func (f *fieldSet) firstPresent(aliases ...int) string {
	for _, i := range aliases {
		if v := f.str(i); v != "" {
			return v
		}
	}
	return ""
}

func (f *fieldSet) params() verifyParams {
	p := verifyParams{
		clientID:   f.str(fClientID),
		username:   f.firstPresent(fUsername, fEmail, fPhoneNumber),
		code:       f.firstPresent(fPassword, fVerificationCode, fOTP),
		connection: f.str(fConnection),
	}
	// scope: absent or null is no scope, a string (even "") is the scope, anything else is
	// SPEC row 11.
	switch f[fScope].kind {
	case valString:
		p.scope = f[fScope].str
	case valOther:
		p.scopeInvalid = true
	}
	return p
}

// ---------------------------------------------------------------------------------------------
// JSON

func parseJSONBody(body []byte) (verifyParams, *apiError) {
	start := skipSpace(body)
	if start == len(body) {
		return verifyParams{}, errEmptyJSON
	}
	if body[start] != '{' {
		// An array, string, number, literal, or garbage: none of them is an object, so there
		// is no need to look further.
		if !utf8.Valid(body) {
			return verifyParams{}, errNotUTF8
		}
		return verifyParams{}, errNotObject
	}
	dotted, cerr := jsoncheck.Check(body, jsoncheck.Options{Duplicates: true})
	if cerr != nil {
		return verifyParams{}, checkError(cerr)
	}
	if dotted {
		return verifyParams{}, errDottedKey
	}
	// Every string read is a substring of the body, or unescaped.
	var f fieldSet
	gjson.Parse(view(body)).ForEach(func(key, value gjson.Result) bool {
		i := fieldIndex(key.Str)
		if i < 0 {
			return true
		}
		switch value.Type {
		case gjson.String:
			f[i] = fieldValue{kind: valString, str: value.Str}
		case gjson.Null:
			f[i] = fieldValue{kind: valNull}
		default:
			f[i] = fieldValue{kind: valOther}
		}
		return true
	})
	return f.params(), nil
}

// checkError is SPEC row 4 for what jsoncheck refused. It names a duplicate key only when
// it is a parameter the filter reads (SPEC 4 asks for the name; these are the keys where two
// readers could disagree). Any other key may be a value in the wrong place, the code included,
// and the code never comes back in an error.
func checkError(e *jsoncheck.Error) *apiError {
	switch {
	case e.Problem == jsoncheck.NotUTF8:
		return errNotUTF8
	case e.Problem == jsoncheck.TooDeep:
		return errTooDeep
	case e.Problem == jsoncheck.DuplicateKey && fieldIndex(e.Key) >= 0:
		return newErrorf(ErrInvalidBody, "duplicate key "+strconv.Quote(e.Key)+" in JSON body")
	case e.Problem == jsoncheck.DuplicateKey:
		return errDuplicateKey
	}
	return newErrorf(ErrInvalidBody, "malformed JSON body: "+e.Error())
}

func skipSpace(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stripJSONCodeFields copies the kept members byte for byte, from gjson's index of each key
// to the end of its value.
func stripJSONCodeFields(body []byte) []byte {
	start := skipSpace(body)
	if start >= len(body) || body[start] != '{' {
		return body
	}
	doc := view(body)
	out := make([]byte, 0, len(body))
	out = append(out, '{')
	kept, removed := 0, false
	gjson.Parse(doc).ForEach(func(key, value gjson.Result) bool {
		if isCodeField(key.Str) {
			removed = true
			return true
		}
		if kept > 0 {
			out = append(out, ',')
		}
		out = append(out, doc[key.Index:value.Index+len(value.Raw)]...)
		kept++
		return true
	})
	if !removed {
		return body
	}
	return append(out, '}')
}

// ---------------------------------------------------------------------------------------------
// Form

// parseFormBody decodes an application/x-www-form-urlencoded body (see eachFormPair). A
// field given more than once is an array, so for the filter it is not a string (missing; for
// scope, invalid).
func parseFormBody(body []byte) (verifyParams, *apiError) {
	var (
		f         fieldSet
		hasDotted bool
	)
	err := eachFormPair(view(body), func(key string) bool { return fieldIndex(key) >= 0 },
		func(key, val string) *apiError {
			hasDotted = hasDotted || strings.IndexByte(key, '.') >= 0
			if idx := fieldIndex(key); idx >= 0 {
				if f[idx].kind == valAbsent {
					f[idx] = fieldValue{kind: valString, str: val}
				} else {
					f[idx] = fieldValue{kind: valOther} // given twice: an array
				}
			}
			return nil
		})
	if err != nil {
		return verifyParams{}, err
	}
	if hasDotted {
		return verifyParams{}, errDottedKey
	}
	return f.params(), nil
}

// eachFormPair decodes x-www-form-urlencoded pairs and calls fn with each: pairs separated
// by '&', key and value separated by the first '=', '+' meaning space and %XX a byte. Empty
// pairs are ignored, a pair without '=' has the value "", ';' is an ordinary character. Every
// decoded key and value must be valid UTF-8 and well escaped, because in forward mode the
// upstream reads the same text; only the values of keys that keep accepts are handed to fn
// (the others as ""), so unread values cost no copy.
func eachFormPair(s string, keep func(key string) bool, fn func(key, val string) *apiError) *apiError {
	var scratch [128]byte
	buf := scratch[:0] // reused to decode components that contain escapes
	for pos := 0; pos < len(s); {
		end := strings.IndexByte(s[pos:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += pos
		}
		pair := s[pos:end]
		if pair == "" {
			pos = end + 1
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")

		key := rawKey
		if needsFormUnescape(rawKey) {
			var bad int
			buf, bad = formUnescape(buf[:0], rawKey)
			if bad >= 0 {
				return malformedForm(pos + bad)
			}
			if !utf8.Valid(buf) {
				return errNotUTF8
			}
			key = string(buf)
		} else if !utf8.ValidString(rawKey) {
			return errNotUTF8
		}
		kept := keep(key)

		val := rawVal
		if needsFormUnescape(rawVal) {
			var bad int
			buf, bad = formUnescape(buf[:0], rawVal)
			if bad >= 0 {
				return malformedForm(pos + len(rawKey) + 1 + bad)
			}
			if !utf8.Valid(buf) {
				return errNotUTF8
			}
			val = ""
			if kept {
				val = string(buf)
			}
		} else if !utf8.ValidString(rawVal) {
			return errNotUTF8
		}
		if !kept {
			val = ""
		}
		if err := fn(key, val); err != nil {
			return err
		}
		pos = end + 1
	}
	return nil
}

func malformedForm(at int) *apiError {
	return newErrorf(ErrInvalidBody, "malformed form body: invalid percent-escape at byte "+strconv.Itoa(at))
}

func needsFormUnescape(raw string) bool {
	return strings.IndexByte(raw, '%') >= 0 || strings.IndexByte(raw, '+') >= 0
}

// formUnescape appends the decoded raw to dst. bad is the offset in raw of a '%' that is not
// followed by two hex digits, or -1.
func formUnescape(dst []byte, raw string) (out []byte, bad int) {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			hi, ok1 := unhex(raw, i+1)
			lo, ok2 := unhex(raw, i+2)
			if !ok1 || !ok2 {
				return dst, i
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, -1
}

func unhex(s string, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func stripFormCodeFields(body []byte) []byte {
	out := make([]byte, 0, len(body))
	var scratch [64]byte
	removed := false
	for rest := body; len(rest) > 0; {
		pair := rest
		if j := bytes.IndexByte(rest, '&'); j >= 0 {
			pair, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		if len(pair) == 0 {
			continue
		}
		rawKey, _, _ := bytes.Cut(pair, []byte{'='})
		key, bad := formUnescape(scratch[:0], string(rawKey))
		if bad < 0 && isCodeField(string(key)) {
			removed = true
			continue
		}
		if len(out) > 0 {
			out = append(out, '&')
		}
		out = append(out, pair...)
	}
	if !removed {
		return body
	}
	return out
}
