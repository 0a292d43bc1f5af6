package store_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
	"github.com/passwordless-verify/filter/shared/storewire"
)

// redirect calls the verify endpoint with step "redirect", as the filter does for the hosted
// login page's GET verify_redirect.
func (e *env) redirect(t *testing.T, code string) (int, string) {
	t.Helper()
	req := storewire.Request{Tenant: tenant, ClientID: client, Connection: connection, Username: email, OTP: code,
		IP: "127.0.0.1", Step: storewire.StepRedirect, RedirectURI: "http://127.0.0.1:3000/callback", Nonce: "n"}
	return e.post(t, storewire.DefaultPath, string(req.AppendJSON(nil)))
}

// TestRedirectAfterVerify: SPEC 12.4; a code that passed verify is good for one redirect,
// which uses it up and mints an authorization code.
func TestRedirectAfterVerify(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("verify: %d %s", status, body)
	}
	status, body := e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode) // verify takes a code once

	status, body = e.redirect(t, code)
	if status != http.StatusOK {
		t.Fatalf("redirect: %d %s", status, body)
	}
	var got struct {
		UserID         string            `json:"user_id"`
		RedirectParams map[string]string `json:"redirect_params"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.UserID != "auth0|alice" || len(got.RedirectParams["code"]) < 16 {
		t.Errorf("answer %s: want the user and a minted code in redirect_params", body)
	}
	status, body = e.redirect(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode) // used up
	status, body = e.verify(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
}

func TestRedirectNeedsVerifyFirst(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	status, body := e.redirect(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
	// The refused redirect did not spend the code's verify step.
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("verify: %d %s", status, body)
	}
}

func TestRedirectWithinLifetimeOnly(t *testing.T) {
	e := newEnv(t, store.Options{CodeTTL: time.Minute})
	code := e.issue(t, email)
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("verify: %d %s", status, body)
	}
	e.clock.Advance(time.Minute)
	status, body := e.redirect(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
}

func TestRedirectWrongCodeCounts(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	if status, body := e.verify(t, code); status != http.StatusOK {
		t.Fatalf("verify: %d %s", status, body)
	}
	for range store.MaxAttempts {
		status, body := e.redirect(t, otherCode(code))
		expect(t, status, body, http.StatusUnauthorized, wrongCode)
	}
	status, body := e.redirect(t, code)
	expect(t, status, body, http.StatusUnauthorized, wrongCode)
}
