// Package storewire is the wire contract between the passwordless verify filter and the
// user store (SPEC.md section 6): the request body the filter sends, the error codes the
// store answers with, and a small JSON writer.
//
// The filter runs as WebAssembly inside Envoy, so this package avoids encoding/json, fmt and
// reflection; writing a request allocates nothing when the buffer has room.
package storewire

// DefaultPath is where the user store serves verification.
const DefaultPath = "/v1/passwordless/verify"

// Error codes in the user store's `{"error":...}` answers.
const (
	CodeInvalidUserPassword = "invalid_user_password" // 401: unknown user or wrong, expired, used code
	CodeUnauthorized        = "unauthorized"          // 401: user is blocked
	CodeAccessDenied        = "access_denied"         // 403: user may not use this client
	CodeBadConnection       = "bad.connection"        // 404: unknown tenant or connection
	CodeTooManyAttempts     = "too_many_attempts"     // 429: the store's own rate limit
	CodeInvalidRequest      = "invalid_request"       // 400: body does not follow this contract
)

// Steps of a verification (SPEC 6 and 12). The POST sends StepVerify; the hosted login
// page's GET verify_redirect sends StepRedirect with the same code, and the store decides
// from the step when the code is used up.
const (
	StepVerify   = "verify"
	StepRedirect = "redirect"
)

// Request is the body of a verification call. Scope may be empty; all other fields are
// required by ParseRequest except IP, RedirectURI and Nonce. Step is StepVerify or
// StepRedirect; ParseRequest reads an absent step as StepVerify.
type Request struct {
	Tenant      string
	ClientID    string
	Connection  string
	Username    string
	OTP         string
	Scope       string
	IP          string
	Step        string
	RedirectURI string
	Nonce       string
}
