package filter

import (
	"strconv"
	"strings"
)

// requestHead is what the filter reads from the request headers of a verify request.
type requestHead struct {
	tenantHeader  string // value of the configured tenant header
	authority     string
	contentType   string
	contentLength string
}

// route is which of the filter's endpoints a request is for.
type route uint8

const (
	routeNone      route = iota // not the filter's: passes through
	routeVerify                 // POST verify_path
	routeRedirect               // GET verify_redirect_path (SPEC 12)
	routePreflight              // OPTIONS verify_path, a CORS preflight when it has the headers (SPEC 13)
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

// route finds the endpoint by method and exact path, with the query string ignored.
func (c *config) route(method, path string) route {
	path = withoutQuery(path)
	switch {
	case method == "POST" && path == c.verifyPath:
		return routeVerify
	case method == "GET" && path == c.redirectPath:
		return routeRedirect
	case method == "OPTIONS" && path == c.verifyPath:
		return routePreflight
	}
	return routeNone
}

// checkHead makes every decision the headers allow (SPEC 3), in catalogue order: tenant,
// declared size, content type. The tenant is returned even when a later check fails, since
// CORS (SPEC 13) depends on it.
func (c *config) checkHead(h requestHead) (string, *tenant, bodyKind, *apiError) {
	name, t, err := c.resolveTenant(h.tenantHeader, h.authority)
	if err != nil {
		return "", nil, 0, err
	}
	if h.contentLength != "" {
		n, perr := strconv.ParseUint(strings.TrimSpace(h.contentLength), 10, 63)
		if perr != nil || n > uint64(c.maxRequestBytes) { //nolint:gosec // G115: parseConfig bounds it to 1–1048576
			return name, t, 0, c.tooLarge()
		}
	}
	kind, err := parseContentType(h.contentType)
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

// tenantOf resolves the tenant of a request that has no body to wait for.
func (c *config) tenantOf(headers [][2]string) (string, *tenant, *apiError) {
	var tenantHeader string
	if c.tenantHeader != "" {
		tenantHeader, _ = lookup(headers, c.tenantHeader)
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

// appendQuoteSafe quotes s in ASCII, cut to 64 bytes, so client input cannot forge a log line
// or bloat an answer.
func appendQuoteSafe(dst []byte, s string) []byte {
	const max = 64
	cut := len(s) > max
	if cut {
		s = s[:max]
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
