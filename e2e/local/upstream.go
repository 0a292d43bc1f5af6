package local

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Echo is what the upstream "login service" answers: the request as it arrived, so one can
// see the identity headers the filter set and the body it forwarded. The hosted login page's
// redirect step (GET verify_redirect, which reaches here only verified, with a redirect_uri
// the filter checked against the client's callbacks) is sent on to the callback instead, with state and what the upstream saw:
// upstream_path and upstream_user_id (the x-passwordless-user-id header).
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
		cb := r.URL.Query().Get("redirect_uri")
		if r.Method == http.MethodGet && r.URL.Path == "/passwordless/verify_redirect" && cb != "" && r.Header.Get("x-passwordless-user-id") != "" {
			redirectToCallback(w, r, cb)
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

// redirectToCallback plays the login service after a verified redirect step.
func redirectToCallback(w http.ResponseWriter, r *http.Request, cb string) {
	q := url.Values{}
	q.Set("state", r.URL.Query().Get("state"))
	q.Set("upstream_path", r.URL.RequestURI())
	q.Set("upstream_user_id", r.Header.Get("x-passwordless-user-id"))
	sep := "?"
	if strings.Contains(cb, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, cb+sep+q.Encode(), http.StatusFound) //nolint:gosec // G710: the filter allowed only the client's callbacks
}
