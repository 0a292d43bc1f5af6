package filter

import (
	"testing"

	"github.com/tidwall/gjson"
)

// TestIdentityValueIsAMember: an identity header's field is a member name, never a gjson
// path, whatever characters it has.
func TestIdentityValueIsAMember(t *testing.T) {
	answer := gjson.Parse(`{"a":{"b":"nested"},"a.b":"dotted","*":"star","x|y":"bar","#":"hash","n":1,"a.b":"second"}`)
	for field, want := range map[string]string{"a.b": "dotted", "*": "star", "x|y": "bar", "#": "hash"} {
		if v, ok := identityValue(field, "acme", &verifyParams{}, answer); !ok || v != want {
			t.Errorf("identityValue(%q) = %q, %v; want %q", field, v, ok, want)
		}
	}
	for _, field := range []string{"n", "a", "missing", "a.*"} {
		if v, ok := identityValue(field, "acme", &verifyParams{}, answer); ok {
			t.Errorf("identityValue(%q) = %q, want no string", field, v)
		}
	}
}

// TestMapAnswerBody: the success body is the store's object as sent, without the whitespace
// around it.
func TestMapAnswerBody(t *testing.T) {
	obj, err := mapAnswer(callAnswer{status: "200", body: []byte(" \n{\"user_id\":\"u\"} \r\n")})
	if err != nil || obj.Raw != `{"user_id":"u"}` {
		t.Fatalf("mapAnswer = %q, %v", obj.Raw, err)
	}
}
