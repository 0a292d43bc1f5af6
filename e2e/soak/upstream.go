package soak

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// upstreamMark is the header the upstream puts on its answers: an answer without it came from
// the filter (or Envoy), not from the upstream.
const upstreamMark = "x-soak-upstream"

// arrival is one request the upstream received.
type arrival struct {
	method, path string
	identity     map[string][]string // every header that is an identity header once _ reads as -, by that name
	spellings    []string            // the names those headers arrived under
	body         string
}

// upstream records every request under its x-request-id; the checker later holds each one
// against the store's record of verified users.
type upstream struct {
	identity []string // the identity header names, lower-case with -

	mu       sync.Mutex
	arrivals map[string][]arrival
	unnamed  []arrival
}

func newUpstream(identityHeaders []string) *upstream {
	return &upstream{identity: identityHeaders, arrivals: map[string][]arrival{}}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	a := arrival{method: r.Method, path: r.URL.RequestURI(), body: string(body), identity: map[string][]string{}}
	for name, vs := range r.Header {
		canon := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		for _, id := range u.identity {
			if canon == id {
				a.identity[id] = append(a.identity[id], vs...)
				a.spellings = append(a.spellings, name)
			}
		}
	}
	id := r.Header.Get("x-request-id")
	u.mu.Lock()
	if id == "" {
		u.unnamed = append(u.unnamed, a)
	} else {
		u.arrivals[id] = append(u.arrivals[id], a)
	}
	u.mu.Unlock()
	w.Header().Set("content-type", "application/json")
	w.Header().Set(upstreamMark, "1")
	out, _ := json.Marshal(map[string]string{"request_id": id})
	_, _ = w.Write(out)
}

func (u *upstream) lookup(id string) []arrival {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]arrival(nil), u.arrivals[id]...)
}

// all returns every arrival by request id, and those without one.
func (u *upstream) all() (map[string][]arrival, []arrival) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := make(map[string][]arrival, len(u.arrivals))
	for k, v := range u.arrivals {
		m[k] = append([]arrival(nil), v...)
	}
	return m, append([]arrival(nil), u.unnamed...)
}
