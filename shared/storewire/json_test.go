package storewire

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain ascii", `"plain ascii"`},
		{`quote " backslash \`, `"quote \" backslash \\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"é ☃ 𝄞", `"é ☃ 𝄞"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xe2\x82", `"\ufffd\ufffd"`}, // truncated sequence: one replacement per byte
		{"\ufffd", "\"\ufffd\""},       // a real U+FFFD stays as is
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"line\u2028para\u2029", `"line\u2028para\u2029"`},
		{"</script>&", `"</script>&"`},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{
			name: "full",
			r: Request{"acme", "acme-web", "email", "a@example.com", "123456", "openid", "203.0.113.7",
				StepRedirect, "http://127.0.0.1:3000/cb", "n-1"},
			want: `{"tenant":"acme","client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456","scope":"openid","ip":"203.0.113.7",` +
				`"step":"redirect","redirect_uri":"http://127.0.0.1:3000/cb","nonce":"n-1"}`,
		},
		{
			name: "no scope",
			r:    Request{Tenant: "t", ClientID: "c", Connection: "sms", Username: "+15550100", OTP: "1", Step: StepVerify},
			want: `{"tenant":"t","client_id":"c","connection":"sms","username":"+15550100","otp":"1","ip":"","step":"verify"}`,
		},
		{
			name: "escaped",
			r:    Request{Tenant: `a"b`, ClientID: "\\", Connection: "\n", Username: "\x00", OTP: "\xff", IP: "::1"},
			want: `{"tenant":"a\"b","client_id":"\\","connection":"\n","username":"\u0000","otp":"\ufffd","ip":"::1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix:")
			got := tt.r.AppendJSON(prefix)
			if string(got) != "prefix:"+tt.want {
				t.Fatalf("got  %s\nwant prefix:%s", got, tt.want)
			}
			if !json.Valid(got[len("prefix:"):]) {
				t.Fatal("output is not valid JSON")
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct{ code, desc, want string }{
		{"bad.connection", "", `{"error":"bad.connection"}`},
		{"access_denied", "user has no access to this client", `{"error":"access_denied","error_description":"user has no access to this client"}`},
		{"invalid_request", `key "a\b"`, `{"error":"invalid_request","error_description":"key \"a\\b\""}`},
	}
	for _, tt := range tests {
		if got := string(ErrorBody(tt.code, tt.desc)); got != tt.want {
			t.Errorf("ErrorBody(%q, %q) = %s, want %s", tt.code, tt.desc, got, tt.want)
		}
	}
}

func TestAppendJSONAllocs(t *testing.T) {
	r := benchRequest()
	dst := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { dst = r.AppendJSON(dst[:0]) }); n != 0 {
		t.Fatalf("AppendJSON allocated %v times with room in dst", n)
	}
}

// FuzzAppendString checks the escaper against encoding/json (HTML escaping off).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\xff\xfe", "\u2028", "é𝄞", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := AppendString(nil, s)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want.Bytes())
		}
	})
}

func benchRequest() Request {
	return Request{
		Tenant:     "acme",
		ClientID:   "acme-web",
		Connection: "email",
		Username:   "someone.with.a.long.name@example.com",
		OTP:        "123456",
		Scope:      "openid profile email",
		IP:         "2001:db8::7",
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := benchRequest()
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		dst = r.AppendJSON(dst[:0])
	}
	b.SetBytes(int64(len(dst)))
}
