package main

// errorKind names one row of the error catalogue (SPEC sections 5, 6, 12 and 13).
type errorKind uint8

const (
	errNoTenant errorKind = iota
	errBadTenant
	errTooLarge
	errInvalidBody
	errDottedField
	errMissingClientID
	errInvalidClient
	errOriginNotAllowed // SPEC 13, checked right after row 7
	// The redirect step checks redirect_uri right after row 7 (SPEC 12).
	errMissingRedirectURI
	errRedirectURINotAllowed
	errMissingUsername
	errMissingPassword
	errMissingConnection
	errScopeNotString
	errConnectionOtherTenant
	errConnectionNotFound
	errNotPasswordless
	errConnectionDisabled
	errConnectionNotForClient
	errTooManyAttempts
	errSuspiciousIP
	// Answers mapped from the user store (SPEC 6).
	errWrongCode
	errUserBlocked
	errAccessDenied
	errStoreBadConnection
	errStoreTooManyAttempts
	errServer
	numErrorKinds
)

// catalogueEntry is one row: the status and error code, and the description. With exact set
// the description is the whole text; otherwise it is a prefix the request adds detail to, or
// (when empty) the detail is the whole text.
type catalogueEntry struct {
	status uint32
	code   string
	text   string
	exact  bool
}

// catalogue is the single source of the error answers; the tests read it too.
var catalogue = [numErrorKinds]catalogueEntry{
	errNoTenant:               {400, "bad.tenant", "error in tenant - could not find tenant in params", true},
	errBadTenant:              {400, "bad.tenant", "error in tenant - tenant validation failed: ", false},
	errTooLarge:               {413, "invalid_request", "", false},
	errInvalidBody:            {400, "invalid_request", "", false},
	errDottedField:            {400, "invalid_request", dottedKeyMsg, false},
	errMissingClientID:        {400, "invalid_request", "missing client_id parameter", true},
	errInvalidClient:          {403, "unauthorized_client", "invalid client", true},
	errOriginNotAllowed:       {403, "access_denied", "Origin not allowed", true},
	errMissingRedirectURI:     {400, "invalid_request", "missing redirect_uri parameter", true},
	errRedirectURINotAllowed:  {400, "invalid_request", "redirect_uri is not an allowed callback URL for this client", true},
	errMissingUsername:        {400, "invalid_request", "missing username parameter", true},
	errMissingPassword:        {400, "invalid_request", "missing password parameter", true},
	errMissingConnection:      {400, "invalid_request", "missing connection parameter", true},
	errScopeNotString:         {400, "invalid_request", "scope parameter must be a string", true},
	errConnectionOtherTenant:  {400, "invalid_request", "the connection was not found for tenant", false},
	errConnectionNotFound:     {400, "invalid_request", "the connection was not found", true},
	errNotPasswordless:        {400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection", true},
	errConnectionDisabled:     {400, "bad.connection", "The connection is disabled", true},
	errConnectionNotForClient: {400, "invalid_request", "the connection was disabled", true},
	errTooManyAttempts:        {429, "too_many_attempts", textTooManyAttempts, true},
	errSuspiciousIP:           {429, "too_many_attempts", "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator.", true},
	errWrongCode:              {401, "invalid_user_password", "Wrong email or password.", true},
	errUserBlocked:            {401, "unauthorized", "user is blocked", true},
	errAccessDenied:           {403, "access_denied", "", false},
	errStoreBadConnection:     {400, "bad.connection", "Connection does not exist", true},
	errStoreTooManyAttempts:   {429, "too_many_attempts", "", false},
	errServer:                 {500, "server_error", "", false},
}

// Fixed texts for the rows whose description the filter writes itself.
const (
	textTooManyAttempts = "Your account has been blocked after multiple consecutive login attempts."
	textServerError     = "The verification could not be completed. Try again later."
	textAccessDenied    = "Access denied."
)

// apiError is an answer the filter sends instead of letting the request through.
type apiError struct {
	kind   errorKind
	detail string // appended to a prefix text, or the whole text of a row without one
	// logReason is what went wrong inside, for the log line only.
	logReason string
}

func (e *apiError) status() uint32 { return catalogue[e.kind].status }

func (e *apiError) code() string { return catalogue[e.kind].code }

func (e *apiError) description() string {
	c := catalogue[e.kind]
	if c.exact {
		return c.text
	}
	return c.text + e.detail
}

func newError(kind errorKind) *apiError { return &apiError{kind: kind} }

func newErrorf(kind errorKind, detail string) *apiError { return &apiError{kind: kind, detail: detail} }

// internalError is a 500 whose reason goes to the log only: the client learns no internals.
func internalError(reason string) *apiError {
	return &apiError{kind: errServer, detail: textServerError, logReason: reason}
}

// bodyErrorToAPI maps a parser rejection to catalogue row 4 or row 5.
func bodyErrorToAPI(e *bodyError) *apiError {
	if e.dotted {
		return newError(errDottedField) // the parser never names a dotted key: no detail
	}
	return newErrorf(errInvalidBody, e.msg)
}
