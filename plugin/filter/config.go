package filter

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/passwordless-verify/filter/shared/jsoncheck"
	"github.com/passwordless-verify/filter/shared/storewire"
)

// Defaults of SPEC section 2.
const (
	defaultVerifyPath      = "/passwordless/verify"
	defaultRedirectPath    = "/passwordless/verify_redirect"
	DefaultMaxRequestBytes = 16384
	DefaultTimeoutMS       = 1000
	defaultMaxAttempts     = 10
	defaultWindowSeconds   = 900
	defaultIPMaxFailures   = 100
	defaultIPWindowSeconds = 3600

	// Bounds that keep a typo from turning into a huge buffer or an endless wait.
	maxMaxRequestBytes = 1 << 20
	maxTimeoutMS       = 60000
	maxTenantNameLen   = 64
	maxWindowSeconds   = 7 * 24 * 3600
)

const (
	modeRespond = "respond"
	modeForward = "forward"
)

type config struct {
	verifyPath      string
	redirectPath    string
	maxRequestBytes int
	tenantHeader    string
	hostSuffix      string
	defaultTenant   string
	tenants         map[string]*tenant
	// anyTenantConnections holds every connection name of every tenant, to tell SPEC row 12
	// (defined elsewhere) from row 13 (defined nowhere).
	anyTenantConnections map[string]bool
	userStore            userStoreConfig
	maxAttempts          int
	windowSeconds        int
	ipMaxFailures        int
	ipWindowSeconds      int
	mode                 string
	passHeaders          []string
	identityHeaders      []identityHeader
	global               *globalConfig // SPEC 14; nil: none
}

type tenant struct {
	connections map[string]connection
	clients     map[string]*client
	webOrigins  map[string]bool // of all its clients: the preflight's answer (SPEC 13)
}

type connection struct {
	strategy string
	enabled  bool
}

type userStoreConfig struct {
	cluster   string
	authority string
	path      string
	timeoutMS uint32
}

// identityHeader sets header name (lower-cased) from answer field; key is the name as
// configured, for error messages.
type identityHeader struct{ name, field, key string }

// parseConfig reads the plugin configuration. Unknown keys are rejected at every level, and
// every error names the field, because a typo that silently drops a setting could disable
// protection.
func parseConfig(data []byte) (*config, error) {
	doc := string(data) // the configuration keeps substrings: not the host's buffer
	if strings.TrimSpace(doc) == "" {
		return nil, errors.New("configuration: empty; required: tenants, user_store.cluster")
	}
	if _, cerr := jsoncheck.Check(data, jsoncheck.Options{Duplicates: true}); cerr != nil {
		if cerr.Problem == jsoncheck.DuplicateKey {
			// JSON readers disagree on which one wins.
			return nil, errors.New(nonEmpty(cerr.Object, "configuration") + ": duplicate key " + strconv.Quote(cerr.Key))
		}
		return nil, errors.New("configuration: " + cerr.Error())
	}
	root := gjson.Parse(doc)
	c := &config{
		verifyPath:      defaultVerifyPath,
		redirectPath:    defaultRedirectPath,
		maxRequestBytes: DefaultMaxRequestBytes,
		maxAttempts:     defaultMaxAttempts,
		windowSeconds:   defaultWindowSeconds,
		ipMaxFailures:   defaultIPMaxFailures,
		ipWindowSeconds: defaultIPWindowSeconds,
		mode:            modeRespond,
		userStore:       userStoreConfig{path: storewire.DefaultPath, timeoutMS: DefaultTimeoutMS},
	}
	err := object(root, "", map[string]func(string, gjson.Result) error{
		"verify_path": func(f string, v gjson.Result) error {
			return urlPath(f, v, &c.verifyPath)
		},
		"verify_redirect_path": func(f string, v gjson.Result) error {
			return urlPath(f, v, &c.redirectPath)
		},
		"max_request_bytes": func(f string, v gjson.Result) error {
			return integer(f, v, 1, maxMaxRequestBytes, &c.maxRequestBytes)
		},
		"tenant":            c.parseTenantSelector,
		"tenants":           c.parseTenants,
		"user_store":        c.parseUserStore,
		"attack_protection": c.parseAttackProtection,
		"on_success":        c.parseOnSuccess,
	})
	if err != nil {
		return nil, err
	}
	var missing []string
	if c.tenants == nil {
		missing = append(missing, "tenants")
	}
	if c.userStore.cluster == "" {
		missing = append(missing, "user_store.cluster")
	}
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, ", ") + ": required")
	}
	if c.defaultTenant != "" && c.tenants[c.defaultTenant] == nil {
		return nil, errors.New("tenant.default: " + strconv.Quote(c.defaultTenant) + " is not in tenants")
	}
	if err := c.checkTenantHeaderNotSet(); err != nil {
		return nil, err
	}
	if c.userStore.authority == "" {
		c.userStore.authority = c.userStore.cluster
	}
	if c.redirectPath == c.verifyPath {
		return nil, errors.New("verify_redirect_path: must differ from verify_path")
	}
	return c, nil
}

func (c *config) parseTenantSelector(field string, v gjson.Result) error {
	return object(v, field, map[string]func(string, gjson.Result) error{
		"header": func(f string, v gjson.Result) error {
			if err := str(f, v, &c.tenantHeader); err != nil {
				return err
			}
			c.tenantHeader = strings.ToLower(c.tenantHeader)
			return headerName(f, c.tenantHeader, true)
		},
		"host_suffix": func(f string, v gjson.Result) error {
			if err := str(f, v, &c.hostSuffix); err != nil {
				return err
			}
			c.hostSuffix = strings.ToLower(c.hostSuffix)
			if c.hostSuffix != "" && !strings.HasPrefix(c.hostSuffix, ".") {
				return errors.New(f + `: must start with "." so that a tenant is a whole host label`)
			}
			return nil
		},
		"default": func(f string, v gjson.Result) error {
			if err := str(f, v, &c.defaultTenant); err != nil {
				return err
			}
			if c.defaultTenant != "" {
				if reason := tenantNameProblem(c.defaultTenant); reason != "" {
					return errors.New(f + ": " + reason)
				}
			}
			return nil
		},
	})
}

func (c *config) parseTenants(field string, v gjson.Result) error {
	if !v.IsObject() {
		return errors.New(field + ": must be an object")
	}
	c.tenants = map[string]*tenant{}
	c.anyTenantConnections = map[string]bool{}
	err := eachMember(v, func(name string, tv gjson.Result) error {
		f := field + "." + name
		if reason := tenantNameProblem(name); reason != "" {
			return errors.New(f + ": " + reason)
		}
		t, err := parseTenant(f, tv)
		if err != nil {
			return err
		}
		for conn := range t.connections {
			c.anyTenantConnections[conn] = true
		}
		c.tenants[name] = t
		return nil
	})
	if err != nil {
		return err
	}
	if len(c.tenants) == 0 {
		return errors.New(field + ": at least one tenant is required")
	}
	return nil
}

func parseTenant(field string, v gjson.Result) (*tenant, error) {
	t := &tenant{connections: map[string]connection{}, clients: map[string]*client{}, webOrigins: map[string]bool{}}
	var clients gjson.Result
	err := object(v, field, map[string]func(string, gjson.Result) error{
		"connections": func(f string, v gjson.Result) error {
			if !v.IsObject() {
				return errors.New(f + ": must be an object")
			}
			return eachMember(v, func(name string, cv gjson.Result) error {
				conn, err := parseConnection(f+"."+name, cv)
				t.connections[name] = conn
				return err
			})
		},
		// Clients are read after connections, whatever the key order, to check their references.
		"clients": func(_ string, v gjson.Result) error {
			clients = v
			return nil
		},
	})
	if err != nil || !clients.Exists() {
		return t, err
	}
	f := field + ".clients"
	if !clients.IsObject() {
		return nil, errors.New(f + ": must be an object")
	}
	err = eachMember(clients, func(id string, cv gjson.Result) error {
		cl, err := parseClient(f+"."+id, cv, t.connections)
		t.clients[id] = cl
		for _, o := range cl.webOrigins {
			t.webOrigins[o] = true
		}
		return err
	})
	return t, err
}

func parseConnection(field string, v gjson.Result) (connection, error) {
	conn := connection{enabled: true}
	err := object(v, field, map[string]func(string, gjson.Result) error{
		"strategy": func(f string, v gjson.Result) error { return str(f, v, &conn.strategy) },
		"enabled":  func(f string, v gjson.Result) error { return boolean(f, v, &conn.enabled) },
	})
	if err == nil && conn.strategy == "" {
		err = errors.New(field + ".strategy: required")
	}
	return conn, err
}

func (c *config) parseUserStore(field string, v gjson.Result) error {
	return object(v, field, map[string]func(string, gjson.Result) error{
		"cluster":    func(f string, v gjson.Result) error { return str(f, v, &c.userStore.cluster) },
		"authority":  func(f string, v gjson.Result) error { return str(f, v, &c.userStore.authority) },
		"path":       func(f string, v gjson.Result) error { return urlPath(f, v, &c.userStore.path) },
		"timeout_ms": func(f string, v gjson.Result) error { return timeout(f, v, &c.userStore.timeoutMS) },
	})
}

func (c *config) parseAttackProtection(field string, v gjson.Result) error {
	return object(v, field, map[string]func(string, gjson.Result) error{
		"max_attempts": func(f string, v gjson.Result) error {
			return integer(f, v, 0, maxAttemptLimit, &c.maxAttempts)
		},
		"window_seconds": func(f string, v gjson.Result) error {
			return integer(f, v, 1, maxWindowSeconds, &c.windowSeconds)
		},
		"ip_max_failures": func(f string, v gjson.Result) error {
			return integer(f, v, 0, maxAttemptLimit, &c.ipMaxFailures)
		},
		"ip_window_seconds": func(f string, v gjson.Result) error {
			return integer(f, v, 1, maxWindowSeconds, &c.ipWindowSeconds)
		},
		"global": c.parseGlobal,
	})
}

func (c *config) parseOnSuccess(field string, v gjson.Result) error {
	return object(v, field, map[string]func(string, gjson.Result) error{
		"mode": func(f string, v gjson.Result) error {
			if err := str(f, v, &c.mode); err != nil {
				return err
			}
			if c.mode != modeRespond && c.mode != modeForward {
				return errors.New(f + `: must be "respond" or "forward"`)
			}
			return nil
		},
		"pass_headers": func(f string, v gjson.Result) error {
			if !v.IsArray() {
				return errors.New(f + ": must be an array of header names")
			}
			var err error
			v.ForEach(func(_, h gjson.Result) bool {
				if h.Type != gjson.String {
					err = errors.New(f + ": must be an array of header names")
					return false
				}
				name := strings.ToLower(h.Str)
				if err = settableHeader(f, name); err == nil {
					c.passHeaders = append(c.passHeaders, name)
				}
				return err == nil
			})
			return err
		},
		"identity_headers": func(f string, v gjson.Result) error {
			if !v.IsObject() {
				return errors.New(f + ": must be an object of header name to answer field")
			}
			return eachMember(v, func(name string, fv gjson.Result) error {
				hf, key := f+"."+name, name
				name = strings.ToLower(name)
				if err := settableHeader(hf, name); err != nil {
					return err
				}
				var field string
				if err := str(hf, fv, &field); err != nil {
					return err
				}
				if field == "" {
					return errors.New(hf + ": must name an answer field")
				}
				c.identityHeaders = append(c.identityHeaders, identityHeader{name: name, field: field, key: key})
				return nil
			})
		},
	})
}

// object walks a JSON object, calling the handler of each key and rejecting unknown keys
// (jsoncheck has refused duplicates). Handlers run in document order.
func object(v gjson.Result, field string, handlers map[string]func(string, gjson.Result) error) error {
	if !v.IsObject() {
		return errors.New(nonEmpty(field, "configuration") + ": must be an object")
	}
	return eachMember(v, func(key string, val gjson.Result) error {
		f := key
		if field != "" {
			f = field + "." + key
		}
		h, ok := handlers[key]
		if !ok {
			return errors.New(f + ": unknown key")
		}
		return h(f, val)
	})
}

// eachMember calls fn for each member of an object until one fails.
func eachMember(v gjson.Result, fn func(string, gjson.Result) error) error {
	var err error
	v.ForEach(func(k, val gjson.Result) bool {
		err = fn(k.Str, val)
		return err == nil
	})
	return err
}

func str(field string, v gjson.Result, dst *string) error {
	if v.Type != gjson.String {
		return errors.New(field + ": must be a string")
	}
	*dst = v.Str
	return nil
}

// integer checks the JSON type first, so "12" is refused; Atoi refuses 1.5 and 1e3.
func integer(field string, v gjson.Result, lo, hi int, dst *int) error {
	if v.Type != gjson.Number {
		return errors.New(field + ": must be a number")
	}
	n, err := strconv.Atoi(v.Raw)
	if err != nil || n < lo || n > hi {
		return errors.New(field + ": must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	*dst = n
	return nil
}

func nonEmptyStr(field string, v gjson.Result, dst *string) error {
	if err := str(field, v, dst); err != nil {
		return err
	}
	if *dst == "" {
		return errors.New(field + ": must not be empty")
	}
	return nil
}

func boolean(field string, v gjson.Result, dst *bool) error {
	if !v.IsBool() {
		return errors.New(field + ": must be true or false")
	}
	*dst = v.Type == gjson.True
	return nil
}

// timeout reads a callout timeout in milliseconds, 1 to maxTimeoutMS.
func timeout(field string, v gjson.Result, dst *uint32) error {
	var ms int
	err := integer(field, v, 1, maxTimeoutMS, &ms)
	*dst = uint32(ms) //nolint:gosec // G115: integer() bounds ms to 1–60000
	return err
}

func urlPath(field string, v gjson.Result, dst *string) error {
	if err := str(field, v, dst); err != nil {
		return err
	}
	if !strings.HasPrefix(*dst, "/") || strings.ContainsAny(*dst, "?# \t\r\n") {
		return errors.New(field + `: must be a path starting with "/" without query or spaces`)
	}
	return nil
}

// headerName accepts lower-case RFC 9110 tokens. Pseudo headers are refused: the filter must
// not be configured to overwrite :path or :authority.
func headerName(field, name string, allowEmpty bool) error {
	if name == "" {
		if allowEmpty {
			return nil
		}
		return errors.New(field + ": empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return errors.New(field + ": " + strconv.Quote(name) + " is not a valid header name")
		}
	}
	return nil
}

// framingHeaders describe the message or the connection, not the request: a filter that set
// or removed them (identity headers are removed from all traffic) would break every request.
var framingHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true,
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "upgrade": true,
}

// settableHeader checks a lower-cased header name the filter copies or sets (SPEC 2).
func settableHeader(field, name string) error {
	switch {
	case strings.HasPrefix(name, ":"):
		return errors.New(field + ": " + strconv.Quote(name) + " is a pseudo-header")
	case framingHeaders[name]:
		return errors.New(field + ": " + strconv.Quote(name) + " is a framing or hop-by-hop header")
	}
	return headerName(field, name, false)
}

// checkTenantHeaderNotSet runs after the whole configuration is read, since the tenant header
// may come after on_success: the filter must not copy or set the header that picks the tenant.
func (c *config) checkTenantHeaderNotSet() error {
	if c.tenantHeader == "" {
		return nil
	}
	if slices.Contains(c.passHeaders, c.tenantHeader) {
		return errors.New("on_success.pass_headers: " + strconv.Quote(c.tenantHeader) + " is the tenant header")
	}
	for _, ih := range c.identityHeaders {
		if ih.name == c.tenantHeader {
			return errors.New("on_success.identity_headers." + ih.key + ": " + strconv.Quote(ih.name) + " is the tenant header")
		}
	}
	return nil
}

func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// tenantNameProblem says why a tenant name is invalid, or "" if it is fine. Names are what
// Auth0 allows: lower-case letters, digits and hyphens, starting with a letter or digit.
func tenantNameProblem(name string) string {
	if name == "" || len(name) > maxTenantNameLen {
		return "tenant name must be 1 to " + strconv.Itoa(maxTenantNameLen) + " characters"
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case 'a' <= b && b <= 'z', '0' <= b && b <= '9':
		case b == '-' && i > 0:
		default:
			return "tenant name may contain only lower-case letters, digits and hyphens, and must not start with a hyphen"
		}
	}
	return ""
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
