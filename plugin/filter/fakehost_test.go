package filter

import (
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeHost is filter.Host in plain Go, for fast tests of the order of things: what the
// stream asks of the host in which callback. It keeps the Host contract as the SDK does:
// a callout's answer is never delivered once the request is gone.
type fakeHost struct {
	headers  [][2]string
	body     []byte
	response [][2]string // the upstream's answer headers (forward mode)
	acts     []string    // what the stream did to the request, in order: "send 200", "resume", "call userstore"...
	sent     []sentAnswer
	calls    []*fakeCall
	answer   *fakeCall // the call whose answer is being delivered
	callErr  error     // Call fails with it
	gone     bool      // the client left: the host delivers nothing more
	quiet    bool      // records nothing, so it allocates nothing
}

type sentAnswer struct {
	status  uint32
	headers [][2]string
	body    string
}

type fakeCall struct {
	cluster string
	headers [][2]string
	body    string
	cb      func(numHeaders, bodySize int)
	// the answer, once given
	answerHeaders [][2]string
	answerBody    []byte
}

func (h *fakeHost) act(verb, what string) {
	if !h.quiet {
		h.acts = append(h.acts, verb+what)
	}
}

func (h *fakeHost) RequestHeader(name string) (string, error) {
	v, _ := lookup(h.headers, name)
	return v, nil
}

func (h *fakeHost) RequestHeaders() ([][2]string, error) { return slices.Clone(h.headers), nil }

func (h *fakeHost) RemoveRequestHeader(name string) error {
	h.act("remove ", name)
	h.headers = slices.DeleteFunc(h.headers, func(kv [2]string) bool { return kv[0] == name })
	return nil
}

func (h *fakeHost) ReplaceRequestHeader(name, value string) error {
	h.act("set ", name)
	h.headers = append(slices.DeleteFunc(h.headers, func(kv [2]string) bool { return kv[0] == name }), [2]string{name, value})
	return nil
}

func (h *fakeHost) RequestBody(size int) ([]byte, error) { return h.body[:min(size, len(h.body))], nil }

func (h *fakeHost) ReplaceRequestBody(body []byte) error {
	h.act("set body", "")
	h.body = slices.Clone(body)
	return nil
}

func (h *fakeHost) ResponseHeaders() ([][2]string, error) { return h.response, nil }

func (h *fakeHost) ReplaceResponseHeader(name, value string) error {
	h.act("set response ", name)
	h.response = append(h.response, [2]string{name, value})
	return nil
}

func (h *fakeHost) SendResponse(status uint32, headers [][2]string, body []byte) error {
	h.act("send ", strconv.Itoa(int(status)))
	h.sent = append(h.sent, sentAnswer{status, headers, string(body)})
	return nil
}

func (h *fakeHost) Resume() error {
	h.act("resume", "")
	return nil
}

func (h *fakeHost) Call(cluster string, headers [][2]string, body []byte, _ uint32, answer func(numHeaders, bodySize int)) error {
	if h.callErr != nil {
		return h.callErr
	}
	h.act("call ", cluster)
	h.calls = append(h.calls, &fakeCall{cluster: cluster, headers: slices.Clone(headers), body: string(body), cb: answer})
	return nil
}

func (h *fakeHost) CallAnswerHeaders() ([][2]string, error) { return h.answer.answerHeaders, nil }

func (h *fakeHost) CallAnswerBody(size int) ([]byte, error) {
	return h.answer.answerBody[:min(size, len(h.answer.answerBody))], nil
}

func (h *fakeHost) SourceAddress() (string, error) { return "203.0.113.7:5678", nil }

func (h *fakeHost) Log(_ LogLevel, msg string) { h.act("log ", msg) }

// reply delivers the answer of the last call (status "" for a failed call: no headers),
// unless the request is gone.
func (h *fakeHost) reply(status, body string) {
	c := h.calls[len(h.calls)-1]
	if h.gone {
		return
	}
	c.answerHeaders, c.answerBody = nil, []byte(body)
	if status != "" {
		c.answerHeaders = [][2]string{{":status", status}, {"set-cookie", "s=1"}}
	}
	h.answer = c
	c.cb(len(c.answerHeaders), len(body))
	h.answer = nil
}

type nopMetrics struct{}

type nopMetric struct{}

func (nopMetric) Increment(uint64) {}
func (nopMetric) Record(uint64)    {}

func (nopMetrics) Counter(string) Counter     { return nopMetric{} }
func (nopMetrics) Histogram(string) Histogram { return nopMetric{} }

// newTestPlugin is the test configuration with its first old replaced by new, on fresh
// shared data.
func newTestPlugin(t *testing.T, old, new string) *Plugin {
	t.Helper()
	cfg := strings.Replace(testConfig, old, new, 1)
	p, err := New([]byte(cfg), nopMetrics{}, newHostData(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var errNoCluster = errors.New("unknown cluster")
