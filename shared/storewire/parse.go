package storewire

import (
	"errors"

	"github.com/tidwall/gjson"

	"github.com/passwordless-verify/filter/shared/jsoncheck"
)

// Request fields in contract order; the index is a bit in ParseRequest's seen mask.
var fieldNames = [...]string{"tenant", "client_id", "connection", "username", "otp", "scope", "ip",
	"step", "redirect_uri", "nonce"}

// Fields that must be present and non-empty.
const requiredMask = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4

// maxKeyInError bounds how much of a client-chosen key is echoed in an error.
const maxKeyInError = 64

// ParseRequest parses a verification body strictly, for the user store: one JSON object,
// only the contract's keys, each at most once and a string of valid UTF-8, and tenant,
// client_id, connection, username and otp non-empty, and step (when given) "verify" or
// "redirect".
func ParseRequest(body []byte) (Request, error) {
	var r Request
	if _, cerr := jsoncheck.Check(body, jsoncheck.Options{}); cerr != nil {
		return r, errors.New("body is not valid JSON: " + cerr.Error())
	}
	obj := gjson.ParseBytes(body)
	if !obj.IsObject() {
		return r, errors.New("body must be a JSON object")
	}
	fields := [...]*string{&r.Tenant, &r.ClientID, &r.Connection, &r.Username, &r.OTP, &r.Scope, &r.IP,
		&r.Step, &r.RedirectURI, &r.Nonce}
	var seen, nonEmpty uint
	var err error
	obj.ForEach(func(k, value gjson.Result) bool {
		key := k.Str
		i := fieldIndex(key)
		switch {
		case i < 0:
			err = keyError("unknown key ", key, "")
		case seen&(1<<i) != 0:
			err = keyError("duplicate key ", key, "")
		case value.Type != gjson.String:
			err = keyError("", key, " must be a string")
		}
		if err != nil {
			return false
		}
		seen |= 1 << i
		str := value.Str
		if str != "" {
			nonEmpty |= 1 << i
		}
		*fields[i] = str
		return true
	})
	if err != nil {
		return Request{}, err
	}
	if missing := requiredMask &^ nonEmpty; missing != 0 {
		for i, name := range fieldNames {
			if missing&(1<<i) != 0 {
				return Request{}, keyError("missing or empty ", name, "")
			}
		}
	}
	switch r.Step {
	case "":
		r.Step = StepVerify // a filter from before the redirect step
	case StepVerify, StepRedirect:
	default:
		return Request{}, keyError("", "step", ` must be "verify" or "redirect"`)
	}
	return r, nil
}

func fieldIndex(key string) int {
	for i, name := range fieldNames {
		if key == name {
			return i
		}
	}
	return -1
}

// keyError builds prefix + quoted key + suffix without fmt.
func keyError(prefix, key, suffix string) error {
	if len(key) > maxKeyInError {
		key = key[:maxKeyInError] + "..."
	}
	b := make([]byte, 0, len(prefix)+len(key)+len(suffix)+8)
	b = append(b, prefix...)
	b = AppendString(b, key)
	b = append(b, suffix...)
	return errors.New(string(b))
}
