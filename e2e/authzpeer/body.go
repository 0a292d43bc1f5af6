package authzpeer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"
)

// params are the verify request's parameters (SPEC 4): a value that is absent, null, not a
// string or empty is "".
type params struct {
	clientID, username, code, connection, scope string
	scopeNotString                              bool
}

// The aliases of SPEC 4, first present wins.
var (
	usernameAliases = []string{"username", "email", "phone_number"}
	codeAliases     = []string{"password", "verification_code", "otp"}
)

// fields are the body's top-level members: a string, or nil for any other value; absent
// members are not in the map.
type fields map[string]*string

func (f fields) first(names ...string) string {
	for _, n := range names {
		if v, ok := f[n]; ok {
			if v != nil {
				return *v
			}
			return ""
		}
	}
	return ""
}

func (f fields) params(nullScope bool) params {
	p := params{
		clientID:   f.first("client_id"),
		username:   f.first(usernameAliases...),
		code:       f.first(codeAliases...),
		connection: f.first("connection"),
		scope:      f.first("scope"),
	}
	if v, ok := f["scope"]; ok && v == nil && !nullScope {
		p.scopeNotString = true
	}
	return p
}

// errDotted is SPEC 5 row 5; every other parse error is row 4.
var errDotted = errors.New("dotted key")

const maxDepth = 64

// parseBody reads the body by content type (SPEC 4).
func parseBody(contentType string, body []byte) (params, error) {
	media := "application/json"
	if contentType != "" {
		m, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return params{}, fmt.Errorf("unsupported content type %q", contentType)
		}
		media = m
	}
	switch media {
	case "application/json":
		f, null, err := parseJSON(body)
		if err != nil {
			return params{}, err
		}
		return f.params(null), nil
	case "application/x-www-form-urlencoded":
		return parseForm(body)
	}
	return params{}, fmt.Errorf("unsupported content type %q", media)
}

// parseJSON walks the body's tokens once: it must be one object, UTF-8, at most 64 levels
// deep, without a key twice in an object or a key with a dot at any depth. It keeps the
// top-level members; null reports whether scope was null (no scope) rather than a non-string.
func parseJSON(body []byte) (f fields, scopeNull bool, err error) {
	if !utf8.Valid(body) {
		return nil, false, errors.New("the body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, errors.New("the body must be a JSON object")
	}
	f = fields{}
	// keys holds the keys seen in each open object; inArray, whether each open level is an
	// array (where no key comes before a value).
	keys := []map[string]bool{{}}
	inArray := []bool{false}
	for len(keys) > 0 {
		t, err := dec.Token()
		if err != nil {
			return nil, false, errors.New("malformed JSON")
		}
		top := len(keys) - 1
		if d, ok := t.(json.Delim); ok && (d == '}' || d == ']') {
			keys, inArray = keys[:top], inArray[:top]
			continue
		}
		key := ""
		if !inArray[top] {
			key = t.(string) // in an object a key comes first
			switch {
			case keys[top][key]:
				return nil, false, errors.New("duplicate key in the JSON body")
			case strings.Contains(key, "."):
				return nil, false, errDotted
			}
			keys[top][key] = true
			if t, err = dec.Token(); err != nil {
				return nil, false, errors.New("malformed JSON")
			}
		}
		if top == 0 {
			if s, ok := t.(string); ok {
				f[key] = &s
			} else {
				f[key] = nil
				if key == "scope" {
					scopeNull = t == nil
				}
			}
		}
		if d, ok := t.(json.Delim); ok {
			if len(keys) == maxDepth {
				return nil, false, errors.New("the JSON body is nested too deeply")
			}
			keys, inArray = append(keys, map[string]bool{}), append(inArray, d == '[')
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false, errors.New("the body must be one JSON object")
	}
	return f, scopeNull, nil
}

// parseForm reads a form body; a field given twice is an array, so not a string.
func parseForm(body []byte) (params, error) {
	if bytes.IndexByte(body, ';') >= 0 {
		return params{}, errors.New(`";" is not a separator; encode it as %3B`)
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return params{}, errors.New("malformed form body")
	}
	f := fields{}
	for k, vs := range q {
		if strings.Contains(k, ".") {
			return params{}, errDotted
		}
		if len(vs) == 1 {
			f[k] = &vs[0]
		} else {
			f[k] = nil
		}
	}
	return f.params(false), nil
}
