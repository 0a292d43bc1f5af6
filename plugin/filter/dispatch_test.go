package filter

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// refusingHost is one verify request whose user store call is refused at dispatch, as Envoy
// refuses a call to an unknown cluster (proxytest, under the plugin's native tests, cannot).
// Only what such a request uses is implemented: any other call hits the nil Host and fails
// the test.
type refusingHost struct {
	Host
	headers [][2]string
	body    []byte
	answers []uint32
}

func (r *refusingHost) RequestHeader(name string) (string, error) {
	v, _ := lookup(r.headers, name)
	return v, nil
}
func (r *refusingHost) RequestHeaders() ([][2]string, error) { return r.headers, nil }
func (r *refusingHost) RequestBody(int) ([]byte, error)      { return r.body, nil }
func (r *refusingHost) SourceAddress() (string, error)       { return "203.0.113.7:4000", nil }
func (r *refusingHost) Log(LogLevel, string)                 {}
func (r *refusingHost) RemoveRequestHeader(string) error     { return nil }
func (r *refusingHost) CallStore(string, [][2]string, []byte, uint32, func(int, int)) error {
	return errors.New("bad argument")
}
func (r *refusingHost) SendResponse(status uint32, _ [][2]string, _ []byte) error {
	r.answers = append(r.answers, status)
	return nil
}

type noMetrics struct{}

func (noMetrics) Counter(string) Counter     { return noMetric{} }
func (noMetrics) Histogram(string) Histogram { return noMetric{} }

type noMetric struct{}

func (noMetric) Increment(uint64) {}
func (noMetric) Record(uint64)    {}

// TestUndispatchedCallGivesBack: SPEC 7; only a call that could not be dispatched gives its
// attempt back (the store never saw it): four such requests for one key, against limits of
// two, all get the 500, none a 429.
func TestUndispatchedCallGivesBack(t *testing.T) {
	cfg := strings.Replace(testConfig, `"user_store"`, `"attack_protection": {"max_attempts": 2, "ip_max_failures": 2}, "user_store"`, 1)
	p, err := New([]byte(cfg), noMetrics{}, newHostData(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`
	for i := range 4 {
		host := &refusingHost{body: []byte(body), headers: [][2]string{{":method", "POST"},
			{":path", "/passwordless/verify"}, {":authority", "x"}, {"x-tenant-id", "acme"}}}
		var s Stream
		s.Init(p, host)
		if s.OnRequestHeaders(false) != Pause || s.OnRequestBody(len(body), true) != Pause {
			t.Fatal("the filter let the request go on")
		}
		if len(host.answers) != 1 || host.answers[0] != 500 {
			t.Fatalf("request %d: answers %v, want one 500", i, host.answers)
		}
	}
}
