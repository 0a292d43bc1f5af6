package storewire

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes AppendString copies as they are: one table lookup per byte is
// the whole cost of a string with nothing to escape, the usual case.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSON appends r as a JSON object with the keys in contract order; "scope", "step",
// "redirect_uri" and "nonce" are left out when empty.
func (r *Request) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"tenant":`...)
	dst = AppendString(dst, r.Tenant)
	dst = append(dst, `,"client_id":`...)
	dst = AppendString(dst, r.ClientID)
	dst = append(dst, `,"connection":`...)
	dst = AppendString(dst, r.Connection)
	dst = append(dst, `,"username":`...)
	dst = AppendString(dst, r.Username)
	dst = append(dst, `,"otp":`...)
	dst = AppendString(dst, r.OTP)
	dst = appendOptional(dst, `,"scope":`, r.Scope)
	dst = append(dst, `,"ip":`...)
	dst = AppendString(dst, r.IP)
	dst = appendOptional(dst, `,"step":`, r.Step)
	dst = appendOptional(dst, `,"redirect_uri":`, r.RedirectURI)
	dst = appendOptional(dst, `,"nonce":`, r.Nonce)
	return append(dst, '}')
}

// appendOptional appends key and the quoted value, or nothing when the value is empty.
func appendOptional(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, key...)
	return AppendString(dst, value)
}

// ErrorBody is a user store's error answer, {"error":code,"error_description":description};
// the description is left out when empty. (The filter writes its answers to clients itself.)
func ErrorBody(code, description string) []byte {
	b := make([]byte, 0, len(code)+len(description)+40)
	b = append(b, `{"error":`...)
	b = AppendString(b, code)
	if description != "" {
		b = append(b, `,"error_description":`...)
		b = AppendString(b, description)
	}
	return append(b, '}')
}

// AppendString appends s as a quoted JSON string. Control characters are escaped, each
// byte of invalid UTF-8 becomes \ufffd, and U+2028/U+2029 are escaped so the output is
// also safe inside JavaScript. The output matches encoding/json without HTML escaping.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		for i < len(s) && plainASCII[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
