package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseBody checks parseBody and stripCodeFields against encoding/json and net/url, which
// serve as independent reference readers here (the filter itself uses neither).
func FuzzParseBody(f *testing.F) {
	for _, tc := range bodyCases {
		if len(tc.body) > 4096 {
			continue // the deep and wide cases are covered by the unit tests
		}
		f.Add(uint8(tc.kind), []byte(tc.body))
	}
	for _, bc := range benchBodies {
		f.Add(uint8(bc.kind), bc.body)
	}
	f.Fuzz(func(t *testing.T, k uint8, body []byte) {
		kind := bodyKind(k % 2)
		orig := bytes.Clone(body)
		p, err := parseBody(kind, body)
		if !bytes.Equal(body, orig) {
			t.Fatal("parseBody modified its input")
		}
		if err != nil {
			if err.description() == "" || !utf8.ValidString(err.description()) {
				t.Fatalf("bad error message %q", err.description())
			}
			if (err.kind == ErrDottedField) != strings.HasPrefix(err.description(), dottedKeyMsg) {
				t.Fatalf("dotted=%v for %q", err.kind == ErrDottedField, err.description())
			}
			if p != (verifyParams{}) {
				t.Fatalf("params %+v returned with error %q", p, err.description())
			}
		}
		switch kind {
		case bodyJSON:
			checkJSON(t, body, p, err)
		case bodyForm:
			checkForm(t, body, p, err)
		}
	})
}

func checkJSON(t *testing.T, body []byte, p verifyParams, err *apiError) {
	ref := referenceJSON(body)
	if err == nil {
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if ref.verdict != refOK {
			t.Fatalf("accepted %q, reference says %v", body, ref.verdict)
		}
		if want := paramsFromMap(ref.top); p != want {
			t.Fatalf("parseBody(%q) = %+v, reference reads %+v", body, p, want)
		}
		checkJSONStrip(t, body, ref.top)
		return
	}
	got := refRow4
	if err.kind == ErrDottedField {
		got = refDotted
	}
	if got != ref.verdict {
		// encoding/json turns lone surrogate escapes into U+FFFD where we reject them.
		if ref.verdict == refOK || ref.verdict == refDotted {
			if hasSurrogateEscape(body) && got == refRow4 {
				return
			}
		}
		t.Fatalf("parseBody(%q) error %q (row %v), reference says %v", body, err.description(), got, ref.verdict)
	}
}

func checkJSONStrip(t *testing.T, body []byte, top map[string]any) {
	stripped := stripCodeFields(bodyJSON, body)
	if !json.Valid(stripped) {
		t.Fatalf("stripCodeFields(%q) = %q, not valid JSON", body, stripped)
	}
	p, err := parseBody(bodyJSON, stripped)
	if err != nil {
		t.Fatalf("stripCodeFields(%q) = %q, rejected: %v", body, stripped, err)
	}
	if p.code != "" {
		t.Fatalf("stripCodeFields(%q) = %q still has a code", body, stripped)
	}
	got, derr := decodeObject(stripped)
	if derr != nil {
		t.Fatal(derr)
	}
	want := make(map[string]any, len(top))
	for k, v := range top {
		if !isCodeField(k) {
			want[k] = v
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stripCodeFields(%q) = %q: reads %v, want %v", body, stripped, got, want)
	}
}

type refVerdict int

const (
	refOK refVerdict = iota
	refRow4
	refDotted
)

func (v refVerdict) String() string {
	return [...]string{"ok", "row 4", "row 5 (dotted)"}[v]
}

type refResult struct {
	verdict refVerdict
	top     map[string]any // when verdict == refOK
}

// referenceJSON classifies body with encoding/json's token stream (which does not recurse).
func referenceJSON(body []byte) refResult {
	if !utf8.Valid(body) || !json.Valid(body) {
		return refResult{verdict: refRow4}
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return refResult{verdict: refRow4}
	}
	type frame struct {
		obj       bool
		expectKey bool
		keys      map[string]bool
	}
	var stack []*frame
	dotted := false
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return refResult{verdict: refRow4}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.obj && top.expectKey {
			if top.keys[s] {
				return refResult{verdict: refRow4}
			}
			top.keys[s] = true
			if strings.Contains(s, ".") {
				dotted = true
			}
			top.expectKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		// A value: the parent object expects a key next.
		if top != nil && top.obj {
			top.expectKey = true
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) == maxBodyDepth {
				return refResult{verdict: refRow4}
			}
			stack = append(stack, &frame{obj: d == '{', expectKey: d == '{', keys: map[string]bool{}})
		}
	}
	if dotted {
		return refResult{verdict: refDotted}
	}
	top, err := decodeObject(body)
	if err != nil {
		return refResult{verdict: refRow4}
	}
	return refResult{verdict: refOK, top: top}
}

// decodeObject reads a JSON object with numbers kept as their text: JSON puts no bound on a
// number (1E700 is valid), and the filter never reads one as a number.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m)
}

// hasSurrogateEscape reports whether body has a \u escape of a UTF-16 surrogate (possibly a
// lone one, which encoding/json accepts and we reject).
func hasSurrogateEscape(body []byte) bool {
	s := strings.ToLower(string(body))
	for i := strings.Index(s, `\ud`); i >= 0; {
		if i+3 < len(s) && strings.IndexByte("89abcdef", s[i+3]) >= 0 {
			return true
		}
		j := strings.Index(s[i+1:], `\ud`)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func paramsFromMap(m map[string]any) verifyParams {
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	first := func(ks ...string) string {
		for _, k := range ks {
			if s := str(k); s != "" {
				return s
			}
		}
		return ""
	}
	p := verifyParams{
		clientID:   str("client_id"),
		username:   first("username", "email", "phone_number"),
		code:       first("password", "verification_code", "otp"),
		connection: str("connection"),
	}
	if v, ok := m["scope"]; ok && v != nil {
		if s, ok := v.(string); ok {
			p.scope = s
		} else {
			p.scopeInvalid = true
		}
	}
	return p
}

func checkForm(t *testing.T, body []byte, p verifyParams, err *apiError) {
	if bytes.IndexByte(body, ';') >= 0 {
		// net/url rejects ';' since Go 1.17; we treat it as an ordinary character. Still check
		// that an accepted body strips cleanly.
		if err == nil {
			checkFormStrip(t, body, p)
		}
		return
	}
	vals, uerr := url.ParseQuery(string(body))
	refErr := uerr != nil
	refDot := false
	if !refErr {
		for k, vs := range vals {
			if !utf8.ValidString(k) {
				refErr = true
			}
			for _, v := range vs {
				if !utf8.ValidString(v) {
					refErr = true
				}
			}
			if strings.Contains(k, ".") {
				refDot = true
			}
		}
	}
	switch {
	case refErr:
		if err == nil || err.kind == ErrDottedField {
			t.Fatalf("parseBody(form %q) = %+v, %v; net/url: %v", body, p, err, uerr)
		}
	case refDot:
		if err == nil || err.kind != ErrDottedField {
			t.Fatalf("parseBody(form %q) = %+v, %v; want dotted error", body, p, err)
		}
	default:
		if err != nil {
			t.Fatalf("parseBody(form %q) error %q; net/url accepts it", body, err.description())
		}
		m := make(map[string]any, len(vals))
		for k, vs := range vals {
			if len(vs) == 1 {
				m[k] = vs[0]
			} else {
				m[k] = vs // an array
			}
		}
		if want := paramsFromMap(m); p != want {
			t.Fatalf("parseBody(form %q) = %+v, net/url reads %+v", body, p, want)
		}
		checkFormStrip(t, body, p)
	}
}

func checkFormStrip(t *testing.T, body []byte, p verifyParams) {
	stripped := stripCodeFields(bodyForm, body)
	got, err := parseBody(bodyForm, stripped)
	if err != nil {
		t.Fatalf("stripCodeFields(form %q) = %q, rejected: %v", body, stripped, err)
	}
	// Stripping removes every occurrence, so a code field given twice (an array, missing)
	// is gone too; nothing else changes.
	p.code = ""
	if got != p {
		t.Fatalf("stripCodeFields(form %q) = %q reads %+v, want %+v", body, stripped, got, p)
	}
	for _, pair := range strings.Split(string(stripped), "&") {
		rawKey, _, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || isCodeField(key) {
			t.Fatalf("stripCodeFields(form %q) = %q keeps pair %q", body, stripped, pair)
		}
	}
}
