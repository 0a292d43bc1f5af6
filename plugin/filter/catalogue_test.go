package filter

import "testing"

// TestCatalogueMatchesSpec pins every row to SPEC sections 3, 4, 5, 6, 12 and 13, written out here by hand:
// the other tests read the catalogue, so a wrong catalogue must fail this one.
func TestCatalogueMatchesSpec(t *testing.T) {
	spec := []struct {
		kind   ErrorKind
		status uint32
		code   string
		text   string
		exact  bool
	}{
		{ErrUnknownPath, 404, "invalid_request", "unknown path", true},
		{ErrMethodNotAllowed, 405, "invalid_request", "method not allowed", true},
		{ErrNoTenant, 400, "bad.tenant", "error in tenant - could not find tenant in params", true},
		{ErrBadTenant, 400, "bad.tenant", "error in tenant - tenant validation failed: ", false},
		{ErrRedirectBody, 400, "invalid_request", "verify_redirect takes no body", true},
		{ErrTooLarge, 413, "invalid_request", "", false},
		{ErrInvalidBody, 400, "invalid_request", "", false},
		{ErrSemicolon, 400, "invalid_request", `";" is not a separator; encode it as %3B`, true},
		{ErrDottedField, 400, "invalid_request", `Fields with "." are not allowed, please remove all dotted fields`, false},
		{ErrMissingClientID, 400, "invalid_request", "missing client_id parameter", true},
		{ErrInvalidClient, 403, "unauthorized_client", "invalid client", true},
		{ErrOriginNotAllowed, 403, "access_denied", "Origin not allowed", true},
		{ErrMissingRedirectURI, 400, "invalid_request", "missing redirect_uri parameter", true},
		{ErrRedirectURINotAllowed, 400, "invalid_request", "redirect_uri is not an allowed callback URL for this client", true},
		{ErrMissingUsername, 400, "invalid_request", "missing username parameter", true},
		{ErrMissingPassword, 400, "invalid_request", "missing password parameter", true},
		{ErrMissingConnection, 400, "invalid_request", "missing connection parameter", true},
		{ErrScopeNotString, 400, "invalid_request", "scope parameter must be a string", true},
		{ErrConnectionOtherTenant, 400, "invalid_request", "the connection was not found for tenant", false},
		{ErrConnectionNotFound, 400, "invalid_request", "the connection was not found", true},
		{ErrNotPasswordless, 400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection", true},
		{ErrConnectionDisabled, 400, "bad.connection", "The connection is disabled", true},
		{ErrConnectionNotForClient, 400, "invalid_request", "the connection was disabled", true},
		{ErrTooManyAttempts, 429, "too_many_attempts", "Your account has been blocked after multiple consecutive login attempts.", true},
		{ErrSuspiciousIP, 429, "too_many_attempts", "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator.", true},
		{ErrWrongCode, 401, "invalid_user_password", "Wrong email or password.", true},
		{ErrUserBlocked, 401, "unauthorized", "user is blocked", true},
		{ErrAccessDenied, 403, "access_denied", "", false},
		{ErrStoreBadConnection, 400, "bad.connection", "Connection does not exist", true},
		{ErrStoreTooManyAttempts, 429, "too_many_attempts", "", false},
		{ErrServer, 500, "server_error", "", false},
	}
	if len(spec) != int(NumErrorKinds) {
		t.Fatalf("spec lists %d rows, catalogue has %d", len(spec), NumErrorKinds)
	}
	for _, s := range spec {
		got := Catalogue[s.kind]
		if got.Status != s.status || got.Code != s.code || got.Text != s.text || got.Exact != s.exact {
			t.Errorf("row %d: %+v, spec says %+v", s.kind, got, s)
		}
	}
}
