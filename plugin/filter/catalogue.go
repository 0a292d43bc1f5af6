package filter

// ErrorKind names one row of the error catalogue (SPEC sections 5, 6, 12 and 13).
type ErrorKind uint8

const (
	ErrNoTenant ErrorKind = iota
	ErrBadTenant
	ErrTooLarge
	ErrInvalidBody
	ErrDottedField
	ErrMissingClientID
	ErrInvalidClient
	ErrOriginNotAllowed // SPEC 13, checked right after row 7
	// The redirect step checks redirect_uri right after row 7 (SPEC 12).
	ErrMissingRedirectURI
	ErrRedirectURINotAllowed
	ErrMissingUsername
	ErrMissingPassword
	ErrMissingConnection
	ErrScopeNotString
	ErrConnectionOtherTenant
	ErrConnectionNotFound
	ErrNotPasswordless
	ErrConnectionDisabled
	ErrConnectionNotForClient
	ErrTooManyAttempts
	ErrSuspiciousIP
	// Answers mapped from the user store (SPEC 6).
	ErrWrongCode
	ErrUserBlocked
	ErrAccessDenied
	ErrStoreBadConnection
	ErrStoreTooManyAttempts
	ErrServer
	NumErrorKinds
)

// CatalogueEntry is one row: the status and error code, and the description. With exact set
// the description is the whole text; otherwise it is a prefix the request adds detail to, or
// (when empty) the detail is the whole text.
type CatalogueEntry struct {
	Status uint32
	Code   string
	Text   string
	Exact  bool
}

// Catalogue is the single source of the error answers; the tests read it too.
var Catalogue = [NumErrorKinds]CatalogueEntry{
	ErrNoTenant:               {400, "bad.tenant", "error in tenant - could not find tenant in params", true},
	ErrBadTenant:              {400, "bad.tenant", "error in tenant - tenant validation failed: ", false},
	ErrTooLarge:               {413, "invalid_request", "", false},
	ErrInvalidBody:            {400, "invalid_request", "", false},
	ErrDottedField:            {400, "invalid_request", dottedKeyMsg, false},
	ErrMissingClientID:        {400, "invalid_request", "missing client_id parameter", true},
	ErrInvalidClient:          {403, "unauthorized_client", "invalid client", true},
	ErrOriginNotAllowed:       {403, "access_denied", "Origin not allowed", true},
	ErrMissingRedirectURI:     {400, "invalid_request", "missing redirect_uri parameter", true},
	ErrRedirectURINotAllowed:  {400, "invalid_request", "redirect_uri is not an allowed callback URL for this client", true},
	ErrMissingUsername:        {400, "invalid_request", "missing username parameter", true},
	ErrMissingPassword:        {400, "invalid_request", "missing password parameter", true},
	ErrMissingConnection:      {400, "invalid_request", "missing connection parameter", true},
	ErrScopeNotString:         {400, "invalid_request", "scope parameter must be a string", true},
	ErrConnectionOtherTenant:  {400, "invalid_request", "the connection was not found for tenant", false},
	ErrConnectionNotFound:     {400, "invalid_request", "the connection was not found", true},
	ErrNotPasswordless:        {400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection", true},
	ErrConnectionDisabled:     {400, "bad.connection", "The connection is disabled", true},
	ErrConnectionNotForClient: {400, "invalid_request", "the connection was disabled", true},
	ErrTooManyAttempts:        {429, "too_many_attempts", textTooManyAttempts, true},
	ErrSuspiciousIP:           {429, "too_many_attempts", "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator.", true},
	ErrWrongCode:              {401, "invalid_user_password", "Wrong email or password.", true},
	ErrUserBlocked:            {401, "unauthorized", "user is blocked", true},
	ErrAccessDenied:           {403, "access_denied", "", false},
	ErrStoreBadConnection:     {400, "bad.connection", "Connection does not exist", true},
	ErrStoreTooManyAttempts:   {429, "too_many_attempts", "", false},
	ErrServer:                 {500, "server_error", "", false},
}

// Fixed texts for the rows whose description the filter writes itself.
const (
	textTooManyAttempts = "Your account has been blocked after multiple consecutive login attempts."
	TextServerError     = "The verification could not be completed. Try again later."
	textAccessDenied    = "Access denied."
)

// apiError is an answer the filter sends instead of letting the request through.
type apiError struct {
	kind   ErrorKind
	detail string // appended to a prefix text, or the whole text of a row without one
	// logReason is what went wrong inside, for the log line only.
	logReason string
}

func (e *apiError) status() uint32 { return Catalogue[e.kind].Status }

func (e *apiError) code() string { return Catalogue[e.kind].Code }

func (e *apiError) description() string {
	c := Catalogue[e.kind]
	if c.Exact {
		return c.Text
	}
	return c.Text + e.detail
}

// fixedErrors are the answers without detail. newError hands out pointers to them, which
// nothing changes, so a rejection allocates no error.
var fixedErrors = func() (e [NumErrorKinds]apiError) {
	for k := range e {
		e[k].kind = ErrorKind(k)
	}
	return e
}()

func newError(kind ErrorKind) *apiError { return &fixedErrors[kind] }

func newErrorf(kind ErrorKind, detail string) *apiError { return &apiError{kind: kind, detail: detail} }

// internalError is a 500 whose reason goes to the log only: the client learns no internals.
func internalError(reason string) *apiError {
	return &apiError{kind: ErrServer, detail: TextServerError, logReason: reason}
}
