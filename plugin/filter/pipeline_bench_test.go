package filter

import (
	"testing"

	"github.com/tidwall/gjson"
)

// BenchmarkPipeline is the filter's own work on a verify body, without the host: parse,
// validate, and render the answer (the error body, or the user store request), next to one
// gjson.Valid pass over the same body, the floor of reading it at all.
func BenchmarkPipeline(b *testing.B) {
	cfg, err := parseConfig([]byte(testConfig))
	if err != nil {
		b.Fatal(err)
	}
	t := cfg.tenants["acme"]
	for _, c := range []struct{ name, body string }{
		{"rejected", `{"client_id":"acme-web","connection":"sms","username":"a@example.com","otp":"123456"}`},
		{"verified", `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`},
	} {
		body := []byte(c.body)
		var out []byte
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, berr := parseBody(bodyJSON, body)
				if berr != nil {
					b.Fatal(berr)
				}
				cl, e := checkClient(t, &p)
				if e == nil {
					e = cfg.validate("acme", t, cl, &p)
				}
				if e != nil {
					out = appendErrorBody(out[:0], e)
				} else {
					out = appendCalloutBody(out[:0], "acme", &p, "203.0.113.7")
				}
			}
		})
		b.Run(c.name+"/gjson.Valid", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !gjson.ValidBytes(body) {
					b.Fatal("not valid")
				}
			}
		})
	}
}
