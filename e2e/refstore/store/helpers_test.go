package store_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
	"github.com/passwordless-verify/filter/e2e/refstore/storetest"
	"github.com/passwordless-verify/filter/shared/storewire"
)

const (
	tenant     = "acme"
	connection = "email"
	client     = "acme-web"
	email      = "alice@example.com"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// env is a running store with a stopped clock and one user, alice.
type env struct {
	*storetest.Server
	clock *storetest.Clock
}

func newEnv(t *testing.T, opts store.Options) *env {
	t.Helper()
	clock := storetest.NewClock(t0)
	opts.Now = clock.Now
	e := &env{Server: storetest.Start(t, opts), clock: clock}
	e.putUser(t, store.User{
		Tenant: tenant, Connection: connection, Username: email, UserID: "auth0|alice",
		Profile: json.RawMessage(`{"name":"Alice","email":"alice@example.com","email_verified":true}`),
	})
	return e
}

func (e *env) putUser(t *testing.T, u store.User) {
	t.Helper()
	if _, err := e.Store.PutUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func (e *env) issue(t *testing.T, username string) string {
	t.Helper()
	code, err := e.Store.IssueCode(context.Background(), tenant, connection, username)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// verify calls the verify endpoint for alice with client acme-web.
func (e *env) verify(t *testing.T, code string) (int, string) {
	t.Helper()
	return e.post(t, storewire.DefaultPath, verifyBody(code))
}

func verifyBody(code string) string {
	req := storewire.Request{Tenant: tenant, ClientID: client, Connection: connection, Username: email, OTP: code, IP: "127.0.0.1"}
	return string(req.AppendJSON(nil))
}

func (e *env) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	return e.do(t, http.MethodPost, path, body)
}

func (e *env) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	status, b, err := e.send(t, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// send is do for any goroutine: it reports failures with Errorf or an error, never Fatal.
func (e *env) send(t *testing.T, method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: content-type %q", method, path, ct)
	}
	if !json.Valid(b) {
		t.Errorf("%s %s: body is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, string(b), nil
}

func expect(t *testing.T, gotStatus int, gotBody string, wantStatus int, wantBody string) {
	t.Helper()
	if gotStatus != wantStatus || gotBody != wantBody {
		t.Fatalf("got %d %s, want %d %s", gotStatus, gotBody, wantStatus, wantBody)
	}
}

// otherCode returns a well-formed code different from code.
func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

const (
	wrongCode    = `{"error":"invalid_user_password"}`
	unauthorized = `{"error":"unauthorized"}`
)
