package storewire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

func TestParseRequest(t *testing.T) {
	full := Request{Tenant: "acme", ClientID: "acme-web", Connection: "email", Username: "a@example.com", OTP: "123456",
		Scope: "openid", IP: "203.0.113.7", Step: StepRedirect, RedirectURI: "https://app.example.com/cb?x=1", Nonce: "n-1"}
	tests := []struct {
		name    string
		body    string
		want    Request
		wantErr string // substring of the error; empty means success
	}{
		{name: "full", body: string(full.AppendJSON(nil)), want: full},
		{
			name: "minimal, any order, escapes",
			body: ` {"otp":"1","username":"b\u0040x","connection":"sms","client_id":"c","tenant":"t"} `,
			want: Request{Tenant: "t", ClientID: "c", Connection: "sms", Username: "b@x", OTP: "1", Step: StepVerify},
		},
		{name: "step verify", body: `{"tenant":"t","client_id":"c","connection":"e","username":"u","otp":"1","step":"verify"}`,
			want: Request{Tenant: "t", ClientID: "c", Connection: "e", Username: "u", OTP: "1", Step: StepVerify}},
		{name: "unknown step", body: `{"tenant":"t","client_id":"c","connection":"e","username":"u","otp":"1","step":"done"}`,
			wantErr: `"step" must be "verify" or "redirect"`},
		{name: "empty step", body: `{"tenant":"t","client_id":"c","connection":"e","username":"u","otp":"1","step":""}`,
			want: Request{Tenant: "t", ClientID: "c", Connection: "e", Username: "u", OTP: "1", Step: StepVerify}},
		{name: "empty optional fields", body: `{"tenant":"t","client_id":"c","connection":"e","username":"u","otp":"1","scope":"","ip":""}`,
			want: Request{Tenant: "t", ClientID: "c", Connection: "e", Username: "u", OTP: "1", Step: StepVerify}},
		{name: "not JSON", body: `{"tenant":`, wantErr: "not valid JSON"},
		{name: "empty body", body: ``, wantErr: "not valid JSON"},
		{name: "trailing data", body: `{} {}`, wantErr: "not valid JSON"},
		{name: "array", body: `[]`, wantErr: "must be a JSON object"},
		{name: "string", body: `"x"`, wantErr: "must be a JSON object"},
		{name: "unknown key", body: `{"tenant":"t","password":"1"}`, wantErr: `unknown key "password"`},
		{name: "duplicate key", body: `{"tenant":"t","tenant":"u"}`, wantErr: `duplicate key "tenant"`},
		{name: "duplicate key escaped", body: `{"otp":"1","ot\u0070":"2"}`, wantErr: `duplicate key "otp"`},
		{name: "number", body: `{"otp":123456}`, wantErr: `"otp" must be a string`},
		{name: "null", body: `{"scope":null}`, wantErr: `"scope" must be a string`},
		{name: "object", body: `{"tenant":{"a":"b"}}`, wantErr: `"tenant" must be a string`},
		{name: "invalid UTF-8", body: "{\"username\":\"\xff\"}", wantErr: "not valid JSON: invalid UTF-8 at byte 13"},
		{name: "missing tenant", body: `{"client_id":"c","connection":"e","username":"u","otp":"1"}`, wantErr: `missing or empty "tenant"`},
		{name: "empty otp", body: `{"tenant":"t","client_id":"c","connection":"e","username":"u","otp":""}`, wantErr: `missing or empty "otp"`},
		{name: "empty object", body: `{}`, wantErr: `missing or empty "tenant"`},
		{name: "long key is cut", body: `{"` + strings.Repeat("k", 1000) + `":""}`, wantErr: `unknown key "` + strings.Repeat("k", 64) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if got != (Request{}) {
					t.Fatalf("failed parse returned %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzAppendJSON checks that AppendJSON always writes valid JSON that ParseRequest reads
// back: exactly for valid UTF-8, with each invalid byte as U+FFFD otherwise.
func FuzzAppendJSON(f *testing.F) {
	f.Add("acme", "acme-web", "email", "a@example.com", "123456", "openid", "203.0.113.7", "https://a.example/cb", "n")
	f.Add("t", "c", "sms", "+15550100", "1", "", "", "", "")
	f.Add("a\"b", "\\", "\n\x00", "\xff", "\u2028", "\t", "::1", "\x01", "\xfe")
	f.Fuzz(func(t *testing.T, tenant, clientID, connection, username, otp, scope, ip, redirectURI, nonce string) {
		in := Request{Tenant: tenant, ClientID: clientID, Connection: connection, Username: username, OTP: otp,
			Scope: scope, IP: ip, Step: StepRedirect, RedirectURI: redirectURI, Nonce: nonce}
		out := in.AppendJSON(nil)
		if !json.Valid(out) || !gjson.ValidBytes(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
		want := Request{
			Tenant: replaceInvalid(tenant), ClientID: replaceInvalid(clientID), Connection: replaceInvalid(connection),
			Username: replaceInvalid(username), OTP: replaceInvalid(otp), Scope: replaceInvalid(scope), IP: replaceInvalid(ip),
			Step: StepRedirect, RedirectURI: replaceInvalid(redirectURI), Nonce: replaceInvalid(nonce),
		}
		got, err := ParseRequest(out)
		if tenant == "" || clientID == "" || connection == "" || username == "" || otp == "" {
			if err == nil {
				t.Fatalf("missing required field accepted: %q", out)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseRequest(%q): %v", out, err)
		}
		if got != want {
			t.Fatalf("round trip of %q:\ngot  %+q\nwant %+q", out, got, want)
		}
		if allValid(tenant, clientID, connection, username, otp, scope, ip, redirectURI, nonce) && got != in {
			t.Fatalf("valid UTF-8 changed: got %+q, want %+q", got, in)
		}
	})
}

// replaceInvalid turns each invalid UTF-8 byte into U+FFFD, as converting to runes does.
func replaceInvalid(s string) string { return string([]rune(s)) }

func allValid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
