package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
	"github.com/passwordless-verify/filter/e2e/refstore/storetest"
	"github.com/passwordless-verify/filter/e2e/wasmhost"
	"github.com/passwordless-verify/filter/plugin/filter"
)

// TestWithReferenceStore runs the filter against the reference user store: a real SQLite file
// behind real HTTP on loopback.
func TestWithReferenceStore(t *testing.T) {
	vmTest(t, func(t *testing.T, h *harness) {
		srv := storetest.Start(t, store.Options{})
		ctx := context.Background()
		for _, u := range []store.User{
			{Tenant: "acme", Connection: "email", Username: "ann@example.com", UserID: "auth0|ann", Profile: json.RawMessage(`{"name":"Ann"}`)},
			{Tenant: "acme", Connection: "email", Username: "bob@example.com", UserID: "auth0|bob", Blocked: true},
			{Tenant: "acme", Connection: "email", Username: "cy@example.com", UserID: "auth0|cy", AllowedClients: []string{"acme-mobile"}},
		} {
			if _, err := srv.Store.PutUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		vm := h.mustStart(t, testConfig, map[string]wasmhost.Cluster{"userstore": wasmhost.HTTPCluster(srv.URL)})
		verify := func(username, code string) outcome {
			return vm.do(t, acme(`{"client_id":"acme-web","connection":"email","username":"`+username+`","otp":"`+code+`"}`))
		}
		issue := func(username string) string {
			code, err := srv.Store.IssueCode(ctx, "acme", "email", username)
			if err != nil {
				t.Fatal(err)
			}
			return code
		}

		code := issue("ann@example.com")
		checkError(t, verify("ann@example.com", "000000x"), filter.ErrWrongCode, "")
		got := verify("Ann@Example.com", code)
		if got.status != 200 {
			t.Fatalf("right code: %d %s", got.status, got.body)
		}
		var answer map[string]any
		if err := json.Unmarshal(got.body, &answer); err != nil || answer["user_id"] != "auth0|ann" || answer["name"] != "Ann" {
			t.Errorf("answer %s", got.body)
		}
		checkError(t, verify("ann@example.com", code), filter.ErrWrongCode, "") // a used code is gone

		checkError(t, verify("bob@example.com", issue("bob@example.com")), filter.ErrUserBlocked, "")
		checkError(t, verify("cy@example.com", issue("cy@example.com")), filter.ErrAccessDenied, "")
		checkError(t, verify("nobody@example.com", "123456"), filter.ErrWrongCode, "")
	})
}
