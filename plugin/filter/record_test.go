package filter

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRecordCutsAndEscapes: every client value in the record is valid JSON, cut to quoteMax
// bytes with the cut marked, whatever bytes the client sent.
func TestRecordCutsAndEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"acme-web":                    "acme-web",
		`a"b\c` + "\n\x00":            `a"b\c` + "\n\x00",
		"\xff":                        "\ufffd",
		strings.Repeat("x", 64):       strings.Repeat("x", 64),
		strings.Repeat("x", 65):       strings.Repeat("x", 64) + "...",
		strings.Repeat("é", 40):       strings.Repeat("é", 32) + "...",
		"x" + strings.Repeat("é", 40): "x" + strings.Repeat("é", 31) + "\ufffd...", // cut inside a rune
	} {
		b := appendJSONCut(nil, in)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != want {
			t.Errorf("appendJSONCut(%q) = %s (%v), want %q", in, b, err, want)
		}
	}
}

// TestRecordOfStream: the record a stream sets is the SPEC 10 object, the same for every host
// callback order; a pass-through sets none.
func TestRecordOfStream(t *testing.T) {
	p := newTestPlugin(t, "", "")
	host := verifyRequest(`{"client_id":"acme-web","connection":"sms","username":"u-SECRET","otp":"C0DE"}`)
	s := startStream(p, host)
	s.OnRequestHeaders(false)
	s.OnRequestBody(len(host.body), true)
	want := `{"tenant":"acme","client_id":"acme-web","connection":"sms","outcome":"bad.connection","request_id":"r-1"}`
	if got := host.state[RecordProperty]; got != want || len(host.state) != 1 {
		t.Errorf("record %q, want %q", host.state, want)
	}
	other := &fakeHost{headers: [][2]string{{":method", "GET"}, {":path", "/elsewhere"}}}
	startStream(p, other).OnRequestHeaders(true)
	if other.state != nil {
		t.Errorf("a pass-through set filter state %q", other.state)
	}
}
