package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
	"github.com/passwordless-verify/filter/shared/storewire"
)

func TestVerifySuccessThenUsed(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	status, body := e.verify(t, code)
	if status != http.StatusOK {
		t.Fatalf("got %d %s", status, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"user_id": "auth0|alice", "tenant": tenant, "client_id": client, "connection": connection,
		"username": email, "name": "Alice", "email": email, "email_verified": true,
	}
	if len(got) != len(want) {
		t.Fatalf("answer %s, want the fields %v", body, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	status, body = e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
}

func TestVerifyEmailIsCaseInsensitive(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, "ALICE@example.COM")
	req := storewire.Request{Tenant: tenant, ClientID: client, Connection: connection, Username: "Alice@Example.com", OTP: code}
	status, body := e.post(t, storewire.DefaultPath, string(req.AppendJSON(nil)))
	if status != http.StatusOK || !strings.Contains(body, `"username":"alice@example.com"`) {
		t.Fatalf("got %d %s", status, body)
	}
}

func TestVerifyExpiry(t *testing.T) {
	e := newEnv(t, store.Options{CodeTTL: time.Minute})
	code := e.issue(t, email)
	e.clock.Advance(time.Minute)
	status, body := e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)

	code = e.issue(t, email)
	e.clock.Advance(time.Minute - time.Millisecond)
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("code just before expiry: got %d %s", status, body)
	}
}

func TestVerifyDefaultTTLIsThreeMinutes(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	e.clock.Advance(3 * time.Minute)
	status, body := e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
}

func TestVerifyNewestCodeOnly(t *testing.T) {
	e := newEnv(t, store.Options{})
	older := e.issue(t, email)
	newer := e.issue(t, email)
	for newer == older {
		newer = e.issue(t, email)
	}
	status, body := e.verify(t, older)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
	if status, body := e.verify(t, newer); status != http.StatusOK {
		t.Fatalf("newest code: got %d %s", status, body)
	}
}

func TestVerifyThreeWrongTriesInvalidate(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	for range store.MaxAttempts {
		status, body := e.verify(t, otherCode(code))
		expect(t, status, body, http.StatusUnauthorized, wrongCode)
	}
	status, body := e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)

	code = e.issue(t, email)
	for range store.MaxAttempts - 1 {
		e.verify(t, otherCode(code))
	}
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("right code after %d wrong tries: got %d %s", store.MaxAttempts-1, status, body)
	}
}

func TestVerifyBlocked(t *testing.T) {
	e := newEnv(t, store.Options{})
	status, body := e.post(t, "/admin/users/block", `{"tenant":"acme","connection":"email","username":"Alice@example.com","blocked":true}`)
	expect(t, status, body, http.StatusOK, `{"blocked":true}`)

	code := e.issue(t, email)
	// Without the right code a blocked user looks like any other.
	status, body = e.verify(t, otherCode(code))
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
	status, body = e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, unauthorized)

	if err := e.Store.SetBlocked(context.Background(), tenant, connection, email, false); err != nil {
		t.Fatal(err)
	}
	if status, body := e.verify(t, e.issue(t, email)); status != http.StatusOK {
		t.Fatalf("unblocked: got %d %s", status, body)
	}
}

func TestVerifyAccessDenied(t *testing.T) {
	e := newEnv(t, store.Options{})
	e.putUser(t, store.User{Tenant: tenant, Connection: connection, Username: email, UserID: "auth0|alice", AllowedClients: []string{"acme-mobile", "acme-admin"}})
	status, body := e.verify(t, e.issue(t, email))
	expect(t, status, body, http.StatusForbidden, `{"error":"access_denied","error_description":"user has no access to this client"}`)

	e.putUser(t, store.User{Tenant: tenant, Connection: connection, Username: email, UserID: "auth0|alice", AllowedClients: []string{client}})
	if status, body := e.verify(t, e.issue(t, email)); status != http.StatusOK {
		t.Fatalf("allowed client: got %d %s", status, body)
	}
}

func TestVerifyUnknownConnectionAndUser(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	for _, tt := range []struct {
		name       string
		req        storewire.Request
		wantStatus int
		wantBody   string
	}{
		{"unknown tenant", storewire.Request{Tenant: "other", ClientID: client, Connection: connection, Username: email, OTP: code}, http.StatusNotFound, `{"error":"bad.connection"}`},
		{"unknown connection", storewire.Request{Tenant: tenant, ClientID: client, Connection: "sms", Username: email, OTP: code}, http.StatusNotFound, `{"error":"bad.connection"}`},
		{"unknown user", storewire.Request{Tenant: tenant, ClientID: client, Connection: connection, Username: "bob@example.com", OTP: code}, http.StatusUnauthorized, wrongCode},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post(t, storewire.DefaultPath, string(tt.req.AppendJSON(nil)))
			expect(t, status, body, tt.wantStatus, tt.wantBody)
		})
	}
	// None of that touched alice's code.
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("got %d %s", status, body)
	}
}

func TestVerifyBadRequests(t *testing.T) {
	e := newEnv(t, store.Options{})
	for _, tt := range []struct {
		name, body, wantDesc string
		wantStatus           int
	}{
		{"malformed JSON", `{"tenant":`, "body is not valid JSON: unexpected end at byte 10", http.StatusBadRequest},
		{"not an object", `["acme"]`, "body must be a JSON object", http.StatusBadRequest},
		{"duplicate key", `{"otp":"1","otp":"2"}`, `duplicate key \"otp\"`, http.StatusBadRequest},
		{"unknown key", `{"password":"1"}`, `unknown key \"password\"`, http.StatusBadRequest},
		{"missing otp", `{"tenant":"acme","client_id":"c","connection":"email","username":"u"}`, `missing or empty \"otp\"`, http.StatusBadRequest},
		{"too large", `{"tenant":"` + strings.Repeat("a", store.MaxBodyBytes) + `"}`, "body is larger than 16384 bytes", http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post(t, storewire.DefaultPath, tt.body)
			want := `{"error":"invalid_request","error_description":"` + tt.wantDesc + `"}`
			expect(t, status, body, tt.wantStatus, want)
		})
	}
	status, body := e.do(t, http.MethodGet, storewire.DefaultPath, "")
	expect(t, status, body, http.StatusMethodNotAllowed, `{"error":"method_not_allowed","error_description":"use POST"}`)
	status, body = e.do(t, http.MethodGet, "/nope", "")
	expect(t, status, body, http.StatusNotFound, `{"error":"not_found","error_description":"no such endpoint"}`)
}

func TestVerifyConcurrentOneCodeOneWinner(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	const n = 20
	statuses := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			status, _, err := e.send(t, http.MethodPost, storewire.DefaultPath, verifyBody(code))
			if err != nil {
				t.Error(err)
			}
			statuses <- status
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusOK] != 1 || counts[http.StatusUnauthorized] != n-1 {
		t.Fatalf("statuses %v, want exactly one 200 and %d 401", counts, n-1)
	}
}

func TestVerifyNeverLogsCode(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, store.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	code := e.issue(t, email)
	e.verify(t, otherCode(code))
	e.verify(t, code)
	e.verify(t, code)
	if !strings.Contains(logs.String(), "outcome=verified") {
		t.Fatalf("no verify log line:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), code) || strings.Contains(logs.String(), otherCode(code)) {
		t.Fatalf("a code was logged:\n%s", logs.String())
	}
}
