package main

import (
	"testing"

	"github.com/tidwall/gjson"
)

// BenchmarkGJSONValid is the reference for the native pipeline's time (issue 9: at most 2×
// this): one gjson.Valid pass over the bodies of BenchmarkRequest's rejected and verified
// cases, in the same test process, so under the same runtime settings.
func BenchmarkGJSONValid(b *testing.B) {
	for _, c := range []struct{ name, body string }{
		{"rejected", `{"client_id":"acme-web","connection":"sms","username":"a@example.com","otp":"123456"}`},
		{"verified", validBody},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := []byte(c.body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !gjson.ValidBytes(body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
