package local

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Echo is what the upstream "login service" answers: the request as it arrived, so one can
// see the identity headers the filter set and the body it forwarded.
type Echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"` // names lower-cased
	Body    string              `json:"body"`
}

// maxEchoBody bounds what the echo reads; the front never sends more.
const maxEchoBody = 1 << 20

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoBody))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		e := Echo{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Headers: map[string][]string{}, Body: string(body)}
		for k, v := range r.Header {
			e.Headers[strings.ToLower(k)] = v
		}
		out, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			http.Error(w, "cannot encode", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "echo")
		_, _ = w.Write(append(out, '\n'))
	})
}
