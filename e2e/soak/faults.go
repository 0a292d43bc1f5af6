package soak

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/passwordless-verify/filter/shared/storewire"
)

// fault is what the store in front of the reference store does to one call.
type fault uint8

const (
	faultNone      fault = iota
	faultTimeout         // answers only after the filter's timeout_ms
	faultReset           // closes the connection without an answer
	faultStatus500       // 500 with a JSON error
	faultMalformed       // 200 whose body is not a JSON object
	numFaults
)

var faultNames = [numFaults]string{"none", "timeout", "reset", "500", "malformed"}

// faultKinds are the faults a faulted call gets, alike in number.
var faultKinds = []fault{faultTimeout, faultReset, faultStatus500, faultMalformed}

func (f fault) String() string { return faultNames[f] }

// malformedBodies are 200 answers section 6 maps to 500: a body that is not a JSON object. (An
// empty body is not among them: SPEC 8 reads it as a success with {}.)
var malformedBodies = []string{`{"user_id":"soak|x"`, `not json`, `[]`, `"ok"`, `{"user_id":"soak|x"} {}`}

// storeCall is what the faulty store saw of one call and what it did.
type storeCall struct {
	req      storewire.Request
	fault    fault
	status   int    // the reference store's answer (no fault only)
	body     []byte // idem
	took     time.Duration
	received time.Time
}

// faultyStore plays a user store that misbehaves on purpose for a share of its calls, in front
// of the reference store. Faulted calls never reach the reference store, so the harness knows
// every code's state there; every call is recorded under its x-request-id.
type faultyStore struct {
	next    http.Handler
	share   float64
	timeout time.Duration // the filter's timeout_ms; a timeout fault answers after it

	mu      sync.Mutex
	rng     *rand.Rand
	calls   map[string][]*storeCall
	unnamed int // calls without an x-request-id
}

func newFaultyStore(next http.Handler, share float64, timeout time.Duration, seed uint64) *faultyStore {
	return &faultyStore{next: next, share: share, timeout: timeout,
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), calls: map[string][]*storeCall{}} //nolint:gosec // G404: seeded on purpose, the seed is printed
}

func (s *faultyStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	c := &storeCall{received: time.Now()}
	c.req, _ = storewire.ParseRequest(body) // a body the store refuses is checked against the client's request
	id := r.Header.Get("x-request-id")
	s.mu.Lock()
	if s.rng.Float64() < s.share {
		c.fault = faultKinds[s.rng.IntN(len(faultKinds))]
	}
	malformed := malformedBodies[s.rng.IntN(len(malformedBodies))]
	if id == "" {
		s.unnamed++
	} else {
		s.calls[id] = append(s.calls[id], c)
	}
	s.mu.Unlock()

	switch c.fault {
	case faultTimeout:
		select {
		case <-time.After(s.timeout + 300*time.Millisecond):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusGatewayTimeout)
	case faultReset:
		resetConnection(w)
	case faultStatus500:
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":"server_error"}`)
	case faultMalformed:
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, malformed)
	default:
		rec := httptest.NewRecorder()
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.next.ServeHTTP(rec, r)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)
		// Recorded before the filter can see the answer, so the client never waits on it.
		s.mu.Lock()
		c.status, c.body, c.took = res.StatusCode, out, time.Since(c.received)
		s.mu.Unlock()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(out)
	}
}

// resetConnection ends the connection with a TCP reset, before any answer.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// lookup returns the calls made for a request id.
func (s *faultyStore) lookup(id string) []storeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storeCall, 0, len(s.calls[id]))
	for _, c := range s.calls[id] {
		out = append(out, *c)
	}
	return out
}

// counts returns how many calls got each fault, and how many came without a request id.
func (s *faultyStore) counts() (byFault [numFaults]int, unnamed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.calls {
		for _, c := range cs {
			byFault[c.fault]++
		}
	}
	return byFault, s.unnamed
}

// userID is the user_id of a 200 answer of the reference store.
func (c storeCall) userID() string {
	var a struct {
		UserID string `json:"user_id"`
	}
	if c.fault != faultNone || c.status != http.StatusOK || json.Unmarshal(c.body, &a) != nil {
		return ""
	}
	return a.UserID
}
