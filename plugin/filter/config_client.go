package filter

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// client is one client of a tenant (SPEC 2).
type client struct {
	connections map[string]bool // the connection names it may use
	callbacks   []string        // exact redirect_uri values of verify_redirect (SPEC 12)
	webOrigins  []string        // browser origins allowed to call verify_path (SPEC 13)
}

// parseClient reads tenants.<t>.clients.<id>; conns are the tenant's connections. The client
// is never nil, so the caller can index it even on an error.
func parseClient(field string, v gjson.Result, conns map[string]connection) (*client, error) {
	cl := &client{connections: map[string]bool{}}
	err := object(v, field, map[string]func(string, gjson.Result) error{
		"connections": func(f string, v gjson.Result) error {
			return stringList(f, v, "connection names", func(name string) error {
				if _, known := conns[name]; !known {
					return errors.New(f + ": " + strconv.Quote(name) + " is not a connection of this tenant")
				}
				cl.connections[name] = true
				return nil
			})
		},
		"callbacks": func(f string, v gjson.Result) error {
			return urlList(f, v, "URLs", callbackProblem, &cl.callbacks)
		},
		"web_origins": func(f string, v gjson.Result) error {
			return urlList(f, v, "origins", originProblem, &cl.webOrigins)
		},
	})
	return cl, err
}

// urlList appends to dst each member of an array of strings that problem finds nothing
// wrong with, and fails naming the first one it does.
func urlList(field string, v gjson.Result, what string, problem func(string) string, dst *[]string) error {
	return stringList(field, v, what, func(u string) error {
		if reason := problem(u); reason != "" {
			return errors.New(field + ": " + strconv.Quote(u) + " " + reason)
		}
		*dst = append(*dst, u)
		return nil
	})
}

// stringList calls fn with each member of an array of strings.
func stringList(field string, v gjson.Result, what string, fn func(string) error) error {
	if !v.IsArray() {
		return errors.New(field + ": must be an array of " + what)
	}
	var err error
	v.ForEach(func(_, s gjson.Result) bool {
		if s.Type != gjson.String {
			err = errors.New(field + ": must be an array of " + what)
		} else {
			err = fn(s.Str)
		}
		return err == nil
	})
	return err
}

// splitURL splits an absolute http(s) URL into scheme, authority and the rest (path, query,
// fragment), or reports why it cannot.
func splitURL(u string) (scheme, authority, rest, problem string) {
	scheme, after, ok := strings.Cut(u, "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return "", "", "", "must start with https:// or http://"
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] >= 0x7f {
			return "", "", "", "must be ASCII without spaces or control characters (percent-encode the rest)"
		}
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority, rest = after[:end], after[end:]
	if authority == "" || strings.ContainsAny(authority, "@\\") {
		return "", "", "", "must name a host, without user information"
	}
	host, port, hasPort := authority, "", false
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && i > strings.LastIndexByte(authority, ']') {
		host, port, hasPort = authority[:i], authority[i+1:], true
	}
	if n, err := strconv.Atoi(port); hasPort && (err != nil || n < 1 || n > 65535 || port[0] < '1' || port[0] > '9') {
		return "", "", "", "has an invalid port"
	}
	if host == "" || host == "[]" {
		return "", "", "", "must name a host"
	}
	return scheme, authority, rest, ""
}

// callbackProblem says why u cannot be a callback URL, or "" when it can: absolute, https,
// or http on the loopback names only (SPEC 2), and no fragment, since the filter appends its
// parameters to the query.
func callbackProblem(u string) string {
	scheme, authority, rest, problem := splitURL(u)
	switch host := stripPort(authority); {
	case problem != "":
		return problem
	case scheme == "http" && host != "localhost" && host != "127.0.0.1":
		return "must use https (http only for localhost and 127.0.0.1)"
	case strings.IndexByte(rest, '#') >= 0:
		return "must not have a fragment"
	}
	return ""
}

// originProblem says why o cannot be a web origin, or "" when it can. Browsers send origins
// in lower case and without a default port, so anything else would never match.
func originProblem(o string) string {
	scheme, authority, rest, problem := splitURL(o)
	switch {
	case problem != "":
		return problem
	case rest != "":
		return "must be scheme://host[:port] with nothing after it"
	case strings.ToLower(o) != o:
		return "must be lower case, as browsers send it"
	case scheme == "https" && strings.HasSuffix(authority, ":443"), scheme == "http" && strings.HasSuffix(authority, ":80"):
		return "must leave out the default port, as browsers do"
	}
	return ""
}
