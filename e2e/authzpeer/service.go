package authzpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/passwordless-verify/filter/plugin/filter"
)

// PeerIPHeader carries the client's address from Envoy to the service: the ext_authz
// configuration adds it with %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, overriding anything
// a client sent under that name.
const PeerIPHeader = "x-peer-ip"

// Service is the ext_authz HTTP authorization service.
type Service struct {
	cfg      *Config
	storeURL string
	client   *http.Client
	attempts *attempts
	// anyTenant holds the connections defined in some tenant, for SPEC 5 row 12.
	anyTenant map[string]bool

	mu     sync.Mutex
	counts map[string]int // answers by outcome: "verified" or the error code (SPEC 10)
}

// New returns the service; storeAddr is the user store's host:port (SPEC 6).
func New(cfg *Config, storeAddr string) *Service {
	s := &Service{
		cfg: cfg, storeURL: "http://" + storeAddr + cfg.UserStore.Path,
		// Envoy's workers keep several calls in flight: keep as many store connections.
		client:    &http.Client{Timeout: cfg.storeTimeout(), Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		attempts:  newAttempts(cfg),
		anyTenant: map[string]bool{},
		counts:    map[string]int{},
	}
	for _, t := range cfg.Tenants {
		for name := range t.Connections {
			s.anyTenant[name] = true
		}
	}
	return s
}

// Counts is how many requests got each outcome.
func (s *Service) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// answer is the service's verdict: 200 lets Envoy answer success itself; any other status is
// the answer Envoy sends the client.
type answer struct {
	status      int
	code, text  string
	passHeaders http.Header // from the store, on success
}

func catalogued(k filter.ErrorKind, detail string) answer {
	e := filter.Catalogue[k]
	text := e.Text
	if !e.Exact {
		text += detail
	}
	return answer{status: int(e.Status), code: e.Code, text: text}
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := s.decide(r)
	outcome := a.code
	if a.status == http.StatusOK {
		outcome = "verified"
		for _, h := range s.cfg.OnSuccess.PassHeaders {
			for _, v := range a.passHeaders.Values(h) {
				w.Header().Add(h, v)
			}
		}
	}
	s.mu.Lock()
	s.counts[outcome]++
	s.mu.Unlock()
	if a.status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.status == http.StatusMethodNotAllowed {
		w.Header().Set("allow", "POST")
	}
	body, _ := json.Marshal(struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{a.code, a.text})
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
}

// tenantName is a tenant name's shape (SPEC 5 row 2).
var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// decide runs SPEC 5's checks in order, attack protection, and the store call.
func (s *Service) decide(r *http.Request) answer {
	switch {
	case r.URL.Path != s.cfg.VerifyPath:
		return answer{status: http.StatusNotFound, code: "invalid_request", text: "unknown path"}
	case r.Method != http.MethodPost:
		return answer{status: http.StatusMethodNotAllowed, code: "invalid_request", text: "method not allowed"}
	}
	tenant, a := s.tenant(r)
	if a.status != 0 {
		return a
	}
	if r.ContentLength > int64(s.cfg.MaxRequestBytes) {
		return catalogued(filter.ErrTooLarge, "request body is too large")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.cfg.MaxRequestBytes)+1))
	if err != nil || len(body) > s.cfg.MaxRequestBytes {
		return catalogued(filter.ErrTooLarge, "request body is too large")
	}
	p, err := parseBody(r.Header.Get("content-type"), body)
	if errors.Is(err, errDotted) {
		return catalogued(filter.ErrDottedField, "")
	} else if err != nil {
		return catalogued(filter.ErrInvalidBody, err.Error())
	}
	if a := s.validate(tenant, p); a.status != 0 {
		return a
	}
	ip := r.Header.Get(PeerIPHeader)
	key, counted := attemptKey(tenant, p, countedIP(ip)), countedIP(ip)
	ok, suspicious := s.attempts.take(key, counted)
	switch {
	case suspicious:
		return catalogued(filter.ErrSuspiciousIP, "")
	case !ok:
		return catalogued(filter.ErrTooManyAttempts, "")
	}
	a, o := s.callStore(r.Context(), r.Header.Get("x-request-id"), tenant, p, ip)
	s.attempts.settle(key, counted, o)
	return a
}

// tenant resolves the tenant by header, host suffix, then default (SPEC 5 rows 1 and 2).
func (s *Service) tenant(r *http.Request) (string, answer) {
	t := s.cfg.Tenant
	var name string
	if t.Header != "" {
		vs := r.Header.Values(t.Header)
		if len(vs) > 1 {
			return "", catalogued(filter.ErrBadTenant, "the tenant header is given more than once")
		}
		if len(vs) == 1 {
			name = vs[0]
		}
	}
	if host := strings.ToLower(r.Host); name == "" && t.HostSuffix != "" {
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
			host = host[:i]
		}
		name, _ = strings.CutSuffix(host, t.HostSuffix)
		if name == host {
			name = ""
		}
	}
	if name == "" {
		name = t.Default
	}
	switch _, ok := s.cfg.Tenants[name]; {
	case name == "":
		return "", catalogued(filter.ErrNoTenant, "")
	case !tenantName.MatchString(name):
		return "", catalogued(filter.ErrBadTenant, "the tenant name is not valid")
	case !ok:
		return "", catalogued(filter.ErrBadTenant, "tenant "+name+" is not configured")
	}
	return name, answer{}
}

// validate runs SPEC 5 rows 6 to 16.
func (s *Service) validate(tenant string, p params) answer {
	t := s.cfg.Tenants[tenant]
	if p.clientID == "" {
		return catalogued(filter.ErrMissingClientID, "")
	}
	cl, ok := t.Clients[p.clientID]
	if !ok {
		return catalogued(filter.ErrInvalidClient, "")
	}
	switch {
	case p.username == "":
		return catalogued(filter.ErrMissingUsername, "")
	case p.code == "":
		return catalogued(filter.ErrMissingPassword, "")
	case p.connection == "":
		return catalogued(filter.ErrMissingConnection, "")
	case p.scopeNotString:
		return catalogued(filter.ErrScopeNotString, "")
	}
	conn, ok := t.Connections[p.connection]
	switch {
	case !ok && s.anyTenant[p.connection]:
		return catalogued(filter.ErrConnectionOtherTenant, " "+tenant)
	case !ok:
		return catalogued(filter.ErrConnectionNotFound, "")
	case conn.Strategy != "email" && conn.Strategy != "sms":
		return catalogued(filter.ErrNotPasswordless, "")
	case !conn.Enabled:
		return catalogued(filter.ErrConnectionDisabled, "")
	case !slices.Contains(cl.Connections, p.connection):
		return catalogued(filter.ErrConnectionNotForClient, "")
	}
	return answer{}
}

// storeRequest is the body of SPEC 6's call, built from the parameters, never copied.
type storeRequest struct {
	Tenant     string `json:"tenant"`
	ClientID   string `json:"client_id"`
	Connection string `json:"connection"`
	Username   string `json:"username"`
	OTP        string `json:"otp"`
	Scope      string `json:"scope,omitempty"`
	IP         string `json:"ip"`
	Step       string `json:"step"`
}

// callStore asks the user store and maps its answer (SPEC 6's table).
func (s *Service) callStore(ctx context.Context, requestID, tenant string, p params, ip string) (answer, outcome) {
	body, _ := json.Marshal(storeRequest{tenant, p.clientID, p.connection, p.username, p.code, p.scope, ip, "verify"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.storeURL, bytes.NewReader(body))
	if err != nil {
		return catalogued(filter.ErrServer, filter.TextServerError), settledGiveBack
	}
	req.Host = s.cfg.UserStore.Authority
	req.Header.Set("content-type", "application/json")
	if requestID != "" {
		req.Header.Set("x-request-id", requestID)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return catalogued(filter.ErrServer, filter.TextServerError), settledUnknown
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	if err != nil || len(b) > 64<<10 {
		return catalogued(filter.ErrServer, filter.TextServerError), settledUnknown
	}
	if resp.StatusCode == http.StatusOK {
		var obj map[string]any
		if json.Unmarshal(b, &obj) != nil || obj == nil {
			return catalogued(filter.ErrServer, filter.TextServerError), settledUnknown
		}
		return answer{status: http.StatusOK, passHeaders: resp.Header}, settledSuccess
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(b, &e)
	switch {
	case resp.StatusCode == 401 && e.Error == "invalid_user_password":
		return catalogued(filter.ErrWrongCode, ""), settledWrongCode
	case resp.StatusCode == 401 && e.Error == "unauthorized":
		return catalogued(filter.ErrUserBlocked, ""), settledGiveBack
	case resp.StatusCode == 403 && e.Error == "access_denied":
		return catalogued(filter.ErrAccessDenied, cleanDescription(e.Description)), settledGiveBack
	case resp.StatusCode == 404 && e.Error == "bad.connection":
		return catalogued(filter.ErrStoreBadConnection, ""), settledGiveBack
	case resp.StatusCode == 429 && e.Error == "too_many_attempts":
		return catalogued(filter.ErrStoreTooManyAttempts, cleanDescription(e.Description)), settledGiveBack
	}
	return catalogued(filter.ErrServer, filter.TextServerError), settledUnknown
}

// cleanDescription keeps at most 256 bytes of the store's text, without control characters.
func cleanDescription(d string) string {
	d = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, d)
	if len(d) > 256 {
		d = strings.ToValidUTF8(d[:256], "")
	}
	return d
}
