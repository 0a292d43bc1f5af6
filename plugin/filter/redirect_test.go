package filter

import (
	"testing"
)

func TestWithQuery(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"https://a.example/cb", "https://a.example/cb?k=v%20%2B%26%3D%C3%A9"},
		{"https://a.example/cb?x=1", "https://a.example/cb?x=1&k=v%20%2B%26%3D%C3%A9"},
		{"https://a.example/cb?", "https://a.example/cb?k=v%20%2B%26%3D%C3%A9"},
		{"https://a.example/cb?x=1&", "https://a.example/cb?x=1&k=v%20%2B%26%3D%C3%A9"},
	} {
		if got := withQuery(c.uri, [][2]string{{"k", "v +&=é"}}); got != c.want {
			t.Errorf("withQuery(%q) = %q, want %q", c.uri, got, c.want)
		}
	}
	if got := withQuery("https://a.example/cb", nil); got != "https://a.example/cb" {
		t.Errorf("no params: %q", got)
	}
}

func TestWithoutCode(t *testing.T) {
	for in, want := range map[string]string{
		"/r":       "/r",
		"/r?a=1":   "/r?a=1",
		"/r?otp=1": "/r",
		"/r?a=1&password=2&b=3&verification_code=4": "/r?a=1&b=3",
		"/r?ot%70=1&a=2": "/r?a=2",
		"/r?otpx=1":      "/r?otpx=1",
	} {
		if got := withoutCode(in); got != want {
			t.Errorf("withoutCode(%q) = %q, want %q", in, got, want)
		}
	}
}
