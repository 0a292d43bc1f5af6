package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/passwordless-verify/filter/shared/storewire"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 16 << 10

// verifyTimeout bounds one verification; it is not tied to the caller, see handleVerify.
const verifyTimeout = 15 * time.Second

// Handler serves the verify endpoint, the local-only admin surface and /healthz. Every
// answer, errors included, is JSON.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(storewire.DefaultPath, only(http.MethodPost, s.handleVerify))
	mux.Handle("/passwordless/start", only(http.MethodPost, s.handleStart))
	mux.Handle("/admin/users", only(http.MethodPost, s.handlePutUser))
	mux.Handle("/admin/users/block", only(http.MethodPost, s.handleBlock))
	mux.Handle("/healthz", only(http.MethodGet, s.handleHealth))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}

func (s *Store) handleVerify(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := storewire.ParseRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, storewire.CodeInvalidRequest, err.Error())
		return
	}
	// Once started, a verification commits its outcome (a used code, a counted attempt)
	// even if the caller hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), verifyTimeout)
	defer cancel()
	answer, err := s.Verify(ctx, req)
	outcome := "verified"
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, answer)
	case errors.Is(err, ErrUnknownConnection):
		outcome = "unknown_connection"
		writeError(w, http.StatusNotFound, storewire.CodeBadConnection, "")
	case errors.Is(err, ErrUnknownUser):
		outcome = "unknown_user"
		writeError(w, http.StatusUnauthorized, storewire.CodeInvalidUserPassword, "")
	case errors.Is(err, ErrWrongCode):
		outcome = "wrong_code"
		writeError(w, http.StatusUnauthorized, storewire.CodeInvalidUserPassword, "")
	case errors.Is(err, ErrBlocked):
		outcome = "blocked"
		writeError(w, http.StatusUnauthorized, storewire.CodeUnauthorized, "")
	case errors.Is(err, ErrAccessDenied):
		outcome = "access_denied"
		writeError(w, http.StatusForbidden, storewire.CodeAccessDenied, ErrAccessDenied.Error())
	default:
		outcome = "error"
		s.log.ErrorContext(ctx, "verify failed", "error", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
	}
	s.log.InfoContext(ctx, "verify", "tenant", req.Tenant, "client_id", req.ClientID,
		"connection", req.Connection, "outcome", outcome, "request_id", r.Header.Get("x-request-id"))
}

// handleStart issues a code and hands it to the outbox, never to the caller.
func (s *Store) handleStart(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tenant      string `json:"tenant"`
		Connection  string `json:"connection"`
		Username    string `json:"username"`
		Email       string `json:"email"`
		PhoneNumber string `json:"phone_number"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	username := firstNonEmpty(in.Username, in.Email, in.PhoneNumber)
	if in.Tenant == "" || in.Connection == "" || username == "" {
		writeError(w, http.StatusBadRequest, storewire.CodeInvalidRequest, "tenant, connection and username (or email or phone_number) are required")
		return
	}
	s.log.InfoContext(r.Context(), "passwordless start (local development only, not for production)",
		"tenant", in.Tenant, "connection", in.Connection)
	c, err := s.issue(r.Context(), in.Tenant, in.Connection, username)
	if err == nil {
		err = s.outbox.deliver(r.Context(), in.Tenant, in.Connection, c)
	}
	if !s.writeStoreError(w, r, err) {
		writeJSON(w, http.StatusOK, []byte(`{}`))
	}
}

func (s *Store) handlePutUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if !readJSON(w, r, &u) {
		return
	}
	created, err := s.PutUser(r.Context(), u)
	if s.writeStoreError(w, r, err) {
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeValue(w, status, map[string]any{
		"tenant": u.Tenant, "connection": u.Connection, "username": NormalizeUsername(u.Username),
		"user_id": u.UserID, "created": created,
	})
}

func (s *Store) handleBlock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tenant     string `json:"tenant"`
		Connection string `json:"connection"`
		Username   string `json:"username"`
		Blocked    *bool  `json:"blocked"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Blocked == nil {
		writeError(w, http.StatusBadRequest, storewire.CodeInvalidRequest, "blocked (true or false) is required")
		return
	}
	err := s.SetBlocked(r.Context(), in.Tenant, in.Connection, in.Username, *in.Blocked)
	if !s.writeStoreError(w, r, err) {
		writeValue(w, http.StatusOK, map[string]bool{"blocked": *in.Blocked})
	}
}

func (s *Store) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		s.log.ErrorContext(ctx, "health check failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "database does not answer")
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// writeStoreError answers an admin operation's error, if any, and reports whether it did.
func (s *Store) writeStoreError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrUnknownConnection):
		writeError(w, http.StatusNotFound, storewire.CodeBadConnection, "unknown tenant or connection")
	case errors.Is(err, ErrUnknownUser):
		writeError(w, http.StatusNotFound, "not_found", "unknown user")
	case errors.Is(err, ErrInvalidUser):
		writeError(w, http.StatusBadRequest, storewire.CodeInvalidRequest, err.Error())
	default:
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
	}
	return true
}

// only answers 405 to any method but the given one.
func only(method string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+method)
			return
		}
		h(w, r)
	})
}

// readBody reads the whole body, answering 413 past MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err == nil {
		return body, true
	}
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		writeError(w, http.StatusRequestEntityTooLarge, storewire.CodeInvalidRequest,
			"body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
	} else {
		writeError(w, http.StatusBadRequest, storewire.CodeInvalidRequest, "could not read body")
	}
	return nil, false
}

// readJSON decodes a body holding exactly one JSON value with no unknown fields into v,
// answering 400 or 413 when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("body must hold a single JSON object")
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, storewire.CodeInvalidRequest, "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

func writeValue(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	writeJSON(w, status, b)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, storewire.ErrorBody(code, description))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body) // a failed write means the caller has gone; nothing to do
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
