package envoye2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Usernames for which the store answers a fixed way instead of looking the user up: each
// row of SPEC 6, and the faults that must all give 500 server_error (storeTimeout is longer
// than the timeout_ms the tests configure).
const storeTimeout = 1500 * time.Millisecond

type scripted struct {
	status int
	body   string
}

var scriptedAnswers = map[string]scripted{
	"s-200@e2e.test":        {200, `{"user_id":"u-200","email":"s-200@e2e.test","tenant":"acme"}`},
	"s-200-empty@e2e.test":  {200, ``},
	"s-401@e2e.test":        {401, `{"error":"invalid_user_password"}`},
	"s-401u@e2e.test":       {401, `{"error":"unauthorized"}`},
	"s-403@e2e.test":        {403, `{"error":"access_denied","error_description":"not for this app\u0007 today"}`},
	"s-404@e2e.test":        {404, `{"error":"bad.connection"}`},
	"s-429@e2e.test":        {429, `{"error":"too_many_attempts","error_description":"slow down"}`},
	"s-500@e2e.test":        {500, `{"error":"boom"}`},
	"s-502@e2e.test":        {502, `bad gateway`},
	"s-418@e2e.test":        {418, `{"error":"teapot"}`},
	"s-401-other@e2e.test":  {401, `{"error":"something_else"}`},
	"s-malformed@e2e.test":  {200, `{"user_id":"u-1",`},
	"s-array@e2e.test":      {200, `["u-1"]`},
	"s-big@e2e.test":        {200, `{"user_id":"u-big","pad":"` + strings.Repeat("x", 70<<10) + `"}`},
	"s-set-cookie@e2e.test": {200, `{"user_id":"u-cookie"}`},
}

const (
	sleepUser    = "f-sleep@e2e.test"   // answers after storeTimeout
	resetUser    = "f-reset@e2e.test"   // sends half an answer, then resets the connection
	slowFailUser = "f-slow401@e2e.test" // answers 401 invalid_user_password after slowFail
	slowOKUser   = "f-slow200@e2e.test" // verifies any code after slowFail
	slowFail     = 300 * time.Millisecond
)

// scriptedStore answers scripted usernames itself and hands everything else to the
// reference store. hits counts the verify calls that reached it.
func scriptedStore(reference http.Handler, hits *counter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.URL.Path == "/v1/passwordless/verify" {
			hits.add()
		}
		user := gjson.GetBytes(body, "username").String()
		switch user {
		case sleepUser:
			time.Sleep(storeTimeout)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"user_id":"too-late"}`)
			return
		case resetUser:
			reset(w)
			return
		case slowFailUser:
			time.Sleep(slowFail)
			w.Header().Set("content-type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_user_password"}`)
			return
		case slowOKUser:
			time.Sleep(slowFail)
			w.Header().Set("content-type", "application/json")
			_, _ = io.WriteString(w, `{"user_id":"u-slow"}`)
			return
		}
		if a, ok := scriptedAnswers[user]; ok {
			w.Header().Set("content-type", "application/json")
			if user == "s-set-cookie@e2e.test" {
				w.Header().Set("set-cookie", "session=abc; HttpOnly")
				w.Header().Set("x-not-passed", "1")
			}
			w.WriteHeader(a.status)
			_, _ = io.WriteString(w, a.body)
			return
		}
		reference.ServeHTTP(w, r)
	})
}

// reset writes the start of an answer and aborts the connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"user_id\":")
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
