package soak

import (
	"net/http"
	"net/url"
	"strings"
)

// row is a request the filter refuses itself, before any count, and the answer SPEC gives it.
type row struct {
	name    string
	method  string
	path    string
	header  map[string]string // on top of x-tenant-id: acme and the JSON content type; "" removes
	body    string
	chunked bool
	want    want
}

func jsonBody(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }

const (
	fClient = `"client_id":"acme-web"`
	fConn   = `"connection":"email"`
	fUser   = `"username":"row@soak.test"`
	fCode   = `"otp":"135790"`
)

func rowError(status int, code, desc string) want {
	return want{status: status, code: code, desc: desc}
}

func rowPrefix(status int, code, desc string) want {
	return want{status: status, code: code, desc: desc, prefix: true}
}

func redirectQuery(mod func(url.Values)) string {
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {callback},
		"connection": {connection}, "email": {"row@soak.test"}, "verification_code": {"135790"},
		"state": {"st-row"}, "nonce": {"n-row"}}
	if mod != nil {
		mod(q)
	}
	return redirectPath + "?" + q.Encode()
}

// rows: every row of SPEC 5 that the filter answers alone (1-16), the redirect step's own
// refusals (SPEC 12), the methods and lookalike paths of SPEC 3, and CORS refusals (SPEC 13).
// Row 12 needs a second tenant and row 16 a connection the client may not use (pluginConfig).
func rows() []row {
	big := strings.Repeat("a", 17000)
	missing := func(name string) want {
		return want{status: 302, code: "invalid_request", desc: "missing " + name + " parameter", redirect: true}
	}
	return []row{
		{name: "1 no tenant", header: map[string]string{"x-tenant-id": ""}, body: jsonBody(fClient),
			want: rowError(400, "bad.tenant", "error in tenant - could not find tenant in params")},
		{name: "2 unknown tenant", header: map[string]string{"x-tenant-id": "nope"}, body: jsonBody(fClient),
			want: rowPrefix(400, "bad.tenant", "error in tenant - tenant validation failed: ")},
		{name: "2 invalid tenant name", header: map[string]string{"x-tenant-id": "Acme!"}, body: jsonBody(fClient),
			want: rowPrefix(400, "bad.tenant", "error in tenant - tenant validation failed: ")},
		{name: "3 content-length too large", body: jsonBody(`"client_id":"` + big + `"`),
			want: rowPrefix(413, "invalid_request", "")},
		{name: "3 streamed too large", body: jsonBody(`"client_id":"` + big + `"`), chunked: true,
			want: rowPrefix(413, "invalid_request", "")},
		{name: "4 content type", header: map[string]string{"content-type": "text/plain"}, body: jsonBody(fClient),
			want: rowPrefix(400, "invalid_request", "")},
		{name: "4 malformed JSON", body: `{"client_id":`, want: rowPrefix(400, "invalid_request", "")},
		{name: "4 not an object", body: `["acme-web"]`, want: rowPrefix(400, "invalid_request", "")},
		{name: "4 duplicate key", body: jsonBody(fClient, fClient), want: rowPrefix(400, "invalid_request", "")},
		{name: "4 semicolon in a form", header: map[string]string{"content-type": "application/x-www-form-urlencoded"},
			body: "client_id=acme-web;connection=email", want: rowError(400, "invalid_request", `";" is not a separator; encode it as %3B`)},
		{name: "5 dotted key", body: jsonBody(fClient, `"a":{"b.c":1}`),
			want: rowPrefix(400, "invalid_request", `Fields with "." are not allowed, please remove all dotted fields`)},
		{name: "6 client_id missing", body: jsonBody(fConn, fUser, fCode), want: rowError(400, "invalid_request", "missing client_id parameter")},
		{name: "7 unknown client", body: jsonBody(`"client_id":"other"`, fConn, fUser, fCode), want: rowError(403, "unauthorized_client", "invalid client")},
		{name: "8 username missing", body: jsonBody(fClient, fConn, fCode), want: rowError(400, "invalid_request", "missing username parameter")},
		{name: "9 code missing", body: jsonBody(fClient, fConn, fUser), want: rowError(400, "invalid_request", "missing password parameter")},
		{name: "10 connection missing", body: jsonBody(fClient, fUser, fCode), want: rowError(400, "invalid_request", "missing connection parameter")},
		{name: "11 scope not a string", body: jsonBody(fClient, fConn, fUser, fCode, `"scope":1`), want: rowError(400, "invalid_request", "scope parameter must be a string")},
		{name: "12 connection of another tenant", body: jsonBody(fClient, `"connection":"globex-email"`, fUser, fCode),
			want: rowPrefix(400, "invalid_request", "the connection was not found for tenant")},
		{name: "13 connection nowhere", body: jsonBody(fClient, `"connection":"nope"`, fUser, fCode), want: rowError(400, "invalid_request", "the connection was not found")},
		{name: "14 not passwordless", body: jsonBody(fClient, `"connection":"Username-Password-Authentication"`, fUser, fCode),
			want: rowError(400, "bad.connection", "Invalid connection strategy. It must either be a passwordless connection")},
		{name: "15 connection disabled", body: jsonBody(fClient, `"connection":"sms"`, fUser, fCode), want: rowError(400, "bad.connection", "The connection is disabled")},
		{name: "16 not the client's connection", body: jsonBody(fClient, `"connection":"email-b"`, fUser, fCode), want: rowError(400, "invalid_request", "the connection was disabled")},
		{name: "form, username missing", header: map[string]string{"content-type": "application/x-www-form-urlencoded"},
			body: "client_id=acme-web&connection=email&otp=135790", want: rowError(400, "invalid_request", "missing username parameter")},
		{name: "origin not allowed", header: map[string]string{"origin": "http://127.0.0.1:3001"}, body: jsonBody(fClient, fConn, fUser, fCode),
			want: want{status: 403, code: "access_denied", desc: textOrigin, absent: []string{"access-control-allow-origin"}}},
		{name: "preflight from another origin", method: http.MethodOptions,
			header: map[string]string{"origin": "http://127.0.0.1:3001", "access-control-request-method": "POST"},
			want:   want{status: 403, code: "access_denied", desc: textOrigin, absent: []string{"access-control-allow-origin"}}},
		{name: "GET verify path", method: http.MethodGet,
			want: want{status: 405, code: "invalid_request", desc: "method not allowed", headers: map[string]string{"allow": "POST, OPTIONS"}}},
		{name: "PUT verify path", method: http.MethodPut, body: jsonBody(fClient, fConn, fUser, fCode),
			want: want{status: 405, code: "invalid_request", desc: "method not allowed", headers: map[string]string{"allow": "POST, OPTIONS"}}},
		{name: "POST redirect path", path: redirectQuery(nil), body: jsonBody(fClient),
			want: want{status: 405, code: "invalid_request", desc: "method not allowed", headers: map[string]string{"allow": "GET"}}},
		{name: "lookalike case", path: "/Passwordless/Verify", body: jsonBody(fClient, fConn, fUser, fCode), want: rowError(404, "invalid_request", "unknown path")},
		{name: "lookalike slash", path: "/passwordless/verify/", body: jsonBody(fClient, fConn, fUser, fCode), want: rowError(404, "invalid_request", "unknown path")},
		{name: "lookalike params", path: "/passwordless/verify;a=b", body: jsonBody(fClient, fConn, fUser, fCode), want: rowError(404, "invalid_request", "unknown path")},
		{name: "lookalike redirect", method: http.MethodGet, path: "/passwordless/VERIFY_REDIRECT", want: rowError(404, "invalid_request", "unknown path")},
		{name: "redirect with a body", method: http.MethodGet, path: redirectQuery(nil), body: "x=1",
			want: rowError(400, "invalid_request", "verify_redirect takes no body")},
		{name: "redirect parameter twice", method: http.MethodGet,
			path: redirectQuery(func(q url.Values) { q.Add("redirect_uri", "https://evil.example/cb") }), want: rowPrefix(400, "invalid_request", "")},
		{name: "redirect semicolon", method: http.MethodGet, path: redirectQuery(nil) + ";x=1",
			want: rowError(400, "invalid_request", `";" is not a separator; encode it as %3B`)},
		{name: "redirect client_id missing", method: http.MethodGet, path: redirectQuery(func(q url.Values) { q.Del("client_id") }),
			want: rowError(400, "invalid_request", "missing client_id parameter")},
		{name: "redirect_uri missing", method: http.MethodGet, path: redirectQuery(func(q url.Values) { q.Del("redirect_uri") }),
			want: rowError(400, "invalid_request", "missing redirect_uri parameter")},
		{name: "redirect_uri not a callback", method: http.MethodGet,
			path: redirectQuery(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }),
			want: rowError(400, "invalid_request", "redirect_uri is not an allowed callback URL for this client")},
		{name: "redirect username missing", method: http.MethodGet, path: redirectQuery(func(q url.Values) { q.Del("email") }), want: missing("username")},
		{name: "redirect code missing", method: http.MethodGet, path: redirectQuery(func(q url.Values) { q.Del("verification_code") }), want: missing("password")},
	}
}
