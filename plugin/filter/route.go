package filter

import (
	"strconv"
	"strings"
)

// route is which of the filter's endpoints a request is for.
type route uint8

const (
	routeNone        route = iota // not the filter's: passes through
	routeVerify                   // POST verify_path
	routeRedirect                 // GET verify_redirect_path (SPEC 12)
	routePreflight                // OPTIONS verify_path: a CORS preflight when it has the headers (SPEC 13)
	routeWrongMethod              // another method on one of the filter's paths: 405 (SPEC 3)
	routeLookalike                // a path that passes for one of the filter's upstream: 404 (SPEC 3)
)

// ownsPath: the path, query ignored, is one of the filter's endpoints for some method.
func (c *config) ownsPath(path string) bool {
	path = withoutQuery(path)
	return path == c.verifyPath || path == c.redirectPath
}

func withoutQuery(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}

// route finds the endpoint by method and exact path, with the query string ignored. The
// filter owns its paths for every method, and refuses their lookalikes (SPEC 3). The method
// matters only on the filter's own paths: elsewhere it may be "", not read.
func (c *config) route(method, path string) route {
	switch p := withoutQuery(path); {
	case p == c.verifyPath && method == "POST":
		return routeVerify
	case p == c.verifyPath && method == "OPTIONS":
		return routePreflight
	case p == c.redirectPath && method == "GET":
		return routeRedirect
	case p == c.verifyPath || p == c.redirectPath:
		return routeWrongMethod
	case c.lookalike(path):
		return routeLookalike
	}
	return routeNone
}

// allowed is the allow header of a 405 on path (SPEC 3).
func (c *config) allowed(path string) string {
	if withoutQuery(path) == c.verifyPath {
		return "POST, OPTIONS"
	}
	return "GET"
}

// checkHead makes every decision a verify POST's headers allow (SPEC 3), in catalogue order:
// tenant, declared size, content type. The tenant is returned even when a later check fails,
// since CORS (SPEC 13) depends on it.
func (c *config) checkHead(headers [][2]string) (string, *tenant, bodyKind, *apiError) {
	name, t, err := c.tenantOf(headers)
	if err != nil {
		return "", nil, 0, err
	}
	if length, ok := lookup(headers, "content-length"); ok {
		n, perr := strconv.ParseUint(strings.TrimSpace(length), 10, 63)
		if perr != nil || n > uint64(c.maxRequestBytes) { //nolint:gosec // G115: parseConfig bounds it to 1–1048576
			return name, t, 0, c.tooLarge()
		}
	}
	contentType, _ := lookup(headers, "content-type")
	kind, err := parseContentType(contentType)
	return name, t, kind, err
}

func (c *config) tooLarge() *apiError {
	return newErrorf(ErrTooLarge, "request body is larger than "+strconv.Itoa(c.maxRequestBytes)+" bytes")
}

// resolveTenant finds the tenant by header, then by host suffix, then the default (SPEC 5
// rows 1 and 2).
func (c *config) resolveTenant(header, authority string) (string, *tenant, *apiError) {
	name := header
	if name == "" && c.hostSuffix != "" {
		host := strings.ToLower(stripPort(authority))
		if strings.HasSuffix(host, c.hostSuffix) {
			name = host[:len(host)-len(c.hostSuffix)]
		}
	}
	if name == "" {
		name = c.defaultTenant
	}
	if name == "" {
		return "", nil, newError(ErrNoTenant)
	}
	// The reason never echoes an invalid name: it is client input of any shape.
	if reason := tenantNameProblem(name); reason != "" {
		return "", nil, newErrorf(ErrBadTenant, reason)
	}
	t := c.tenants[name]
	if t == nil {
		return "", nil, newErrorf(ErrBadTenant, "tenant "+name+" is not configured")
	}
	return name, t, nil
}

// tenantOf resolves the tenant from the request headers. A tenant header given twice is
// refused: the filter and the upstream must not read different tenants (SPEC 5 row 2).
func (c *config) tenantOf(headers [][2]string) (string, *tenant, *apiError) {
	var tenantHeader string
	if c.tenantHeader != "" {
		var n int
		if tenantHeader, n = lookupAll(headers, c.tenantHeader); n > 1 {
			return "", nil, newErrorf(ErrBadTenant, "the tenant header is given more than once")
		}
	}
	authority, _ := lookup(headers, ":authority")
	return c.resolveTenant(tenantHeader, authority)
}

// stripPort removes the port from host:port, and the brackets from an IPv6 literal.
func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		return host[:i]
	}
	return host
}

// parseContentType picks the body parser: JSON when the header is absent (SPEC 4).
func parseContentType(v string) (bodyKind, *apiError) {
	media := v
	if i := strings.IndexByte(media, ';'); i >= 0 {
		media = media[:i]
	}
	media = strings.ToLower(strings.TrimSpace(media))
	switch media {
	case "", "application/json":
		return bodyJSON, nil
	case "application/x-www-form-urlencoded":
		return bodyForm, nil
	}
	return 0, newErrorf(ErrInvalidBody, "unsupported content type "+quoteSafe(media))
}

// quoteSafe quotes client input for an error text, cut short so an answer stays small.
func quoteSafe(s string) string { return string(appendQuoteSafe(nil, s)) }

// quoteMax is how much of a client's value an answer, a log line or the record keeps.
const quoteMax = 64

// appendQuoteSafe quotes s in ASCII, cut to quoteMax bytes, so client input cannot forge a log
// line or bloat an answer.
func appendQuoteSafe(dst []byte, s string) []byte {
	cut := len(s) > quoteMax
	if cut {
		s = s[:quoteMax]
	}
	if plainASCII(s) {
		// What strconv would write, without its rune-by-rune walk: this runs on every
		// handled request's log line.
		dst = append(append(append(dst, '"'), s...), '"')
	} else {
		dst = strconv.AppendQuoteToASCII(dst, s)
	}
	if !cut {
		return dst
	}
	// The cut is marked inside the quotes, as before the cut was appended then quoted.
	return append(dst[:len(dst)-1], `..."`...)
}

// plainASCII reports whether s is printable ASCII that needs no escape inside quotes.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// checkClient runs SPEC 5 rows 6 and 7 and returns the client.
func checkClient(t *tenant, p *verifyParams) (*client, *apiError) {
	if p.clientID == "" {
		return nil, newError(ErrMissingClientID)
	}
	cl := t.clients[p.clientID]
	if cl == nil {
		return nil, newError(ErrInvalidClient)
	}
	return cl, nil
}

// validate runs SPEC 5 rows 8 to 16 against the client and the tenant's connections.
func (c *config) validate(tenantName string, t *tenant, cl *client, p *verifyParams) *apiError {
	switch {
	case p.username == "":
		return newError(ErrMissingUsername)
	case p.code == "":
		return newError(ErrMissingPassword)
	case p.connection == "":
		return newError(ErrMissingConnection)
	case p.scopeInvalid:
		return newError(ErrScopeNotString)
	}
	conn, ok := t.connections[p.connection]
	switch {
	case !ok && c.anyTenantConnections[p.connection]:
		return newErrorf(ErrConnectionOtherTenant, " "+tenantName)
	case !ok:
		return newError(ErrConnectionNotFound)
	case conn.strategy != "email" && conn.strategy != "sms":
		return newError(ErrNotPasswordless)
	case !conn.enabled:
		return newError(ErrConnectionDisabled)
	case !cl.connections[p.connection]:
		return newError(ErrConnectionNotForClient)
	}
	return nil
}
