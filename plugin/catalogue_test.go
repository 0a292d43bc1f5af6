package main

import "testing"

// TestCatalogueMatchesSpec pins every row to SPEC sections 5, 6, 12 and 13, written out here by hand:
// the other tests read the catalogue, so a wrong catalogue must fail this one.
func TestCatalogueMatchesSpec(t *testing.T) {
	spec := []struct {
		kind   errorKind
		status uint32
		code   string
		text   string
		exact  bool
	}{
		{errNoTenant, 400, "bad.tenant", "error in tenant - could not find tenant in params", true},
		{errBadTenant, 400, "bad.tenant", "error in tenant - tenant validation failed: ", false},
		{errTooLarge, 413, "invalid_request", "", false},
		{errInvalidBody, 400, "invalid_request", "", false},
		{errDottedField, 400, "invalid_request", `Fields with "." are not allowed, please remove all dotted fields`, false},
		{errMissingClientID, 400, "invalid_request", "missing client_id parameter", true},
		{errInvalidClient, 403, "unauthorized_client", "invalid client", true},
		{errOriginNotAllowed, 403, "access_denied", "Origin not allowed", true},
		{errMissingRedirectURI, 400, "invalid_request", "missing redirect_uri parameter", true},
		{errRedirectURINotAllowed, 400, "invalid_request", "redirect_uri is not an allowed callback URL for this client", true},
		{errMissingUsername, 400, "invalid_request", "missing username parameter", true},
		{errMissingPassword, 400, "invalid_request", "missing password parameter", true},
		{errMissingConnection, 400, "invalid_request", "missing connection parameter", true},
		{errScopeNotString, 400, "invalid_request", "scope parameter must be a string", true},
		{errConnectionOtherTenant, 400, "invalid_request", "the connection was not found for tenant", false},
		{errConnectionNotFound, 400, "invalid_request", "the connection was not found", true},
		{errNotPasswordless, 400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection", true},
		{errConnectionDisabled, 400, "bad.connection", "The connection is disabled", true},
		{errConnectionNotForClient, 400, "invalid_request", "the connection was disabled", true},
		{errTooManyAttempts, 429, "too_many_attempts", "Your account has been blocked after multiple consecutive login attempts.", true},
		{errSuspiciousIP, 429, "too_many_attempts", "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator.", true},
		{errWrongCode, 401, "invalid_user_password", "Wrong email or password.", true},
		{errUserBlocked, 401, "unauthorized", "user is blocked", true},
		{errAccessDenied, 403, "access_denied", "", false},
		{errStoreBadConnection, 400, "bad.connection", "Connection does not exist", true},
		{errStoreTooManyAttempts, 429, "too_many_attempts", "", false},
		{errServer, 500, "server_error", "", false},
	}
	if len(spec) != int(numErrorKinds) {
		t.Fatalf("spec lists %d rows, catalogue has %d", len(spec), numErrorKinds)
	}
	for _, s := range spec {
		got := catalogue[s.kind]
		if got.status != s.status || got.code != s.code || got.text != s.text || got.exact != s.exact {
			t.Errorf("row %d: %+v, spec says %+v", s.kind, got, s)
		}
	}
}
