package filter

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestLookalike(t *testing.T) {
	c := &config{verifyPath: defaultVerifyPath, redirectPath: defaultRedirectPath}
	for path, want := range map[string]bool{
		"/passwordless/verify":                    false, // the filter's own
		"/passwordless/verify?x=1":                false,
		"/passwordless/verify_redirect?otp=1":     false,
		"/Passwordless/Verify":                    true,
		"/PASSWORDLESS/VERIFY_REDIRECT?otp=1":     true,
		"/passwordless/verify/":                   true,
		"/passwordless/verify/?x":                 true,
		"/passwordless/verify;a=b":                true,
		"/passwordless/verify;jsessionid=1/":      true,
		"/passwordless/verify/;a":                 true,
		"/passwordless/Verify_Redirect;x/?otp=1":  true,
		"/passwordless/%76erify":                  true,
		"/passwordless%2Fverify":                  true,
		"/passwordless/verify%3Ba":                true,
		"/passwordless/verify%2F":                 true,
		"/passwordless;a/verify":                  false, // `;` outside the last segment
		"/passwordless/verify//":                  false, // one trailing `/`, not two
		"/passwordless/verifyx":                   false,
		"/passwordless/verif":                     false,
		"/passwordless/verify%":                   false, // an escape without digits stays
		"/passwordless/verify%zz":                 false,
		"/passwordle\u017f\u017f/verify":          false, // ASCII folding only
		"/passwordless/veri\u212a":                false,
		"/":                                       false,
		"":                                        false,
		"/other":                                  false,
		"/passwordless/verify_redirect/extra":     false,
		"/passwordless/verify_redirect%3Fotp=123": false, // an encoded `?` is part of the path
	} {
		if got := c.lookalike(path); got != want {
			t.Errorf("lookalike(%q) = %v, want %v", path, got, want)
		}
	}
	custom := &config{verifyPath: "/pv", redirectPath: "/R/"}
	for path, want := range map[string]bool{"/PV": true, "/pv/": true, "/pv": false, "/r/": true, "/R/": false, "/R": true, "/r;a/": true, "/r//": false} {
		if got := custom.lookalike(path); got != want {
			t.Errorf("paths /pv and /R/: lookalike(%q) = %v, want %v", path, got, want)
		}
	}
}

var escape = regexp.MustCompile(`%[0-9a-fA-F]{2}`)

// refLookalike is SPEC 3's rule written another way: by segments, with the standard library
// decoding each escape.
func refLookalike(c *config, path string) bool {
	p, _, _ := strings.Cut(path, "?")
	if p == c.verifyPath || p == c.redirectPath {
		return false
	}
	key := func(p string) string {
		p = escape.ReplaceAllStringFunc(p, func(e string) string {
			s, err := url.PathUnescape(e)
			if err != nil {
				panic(err)
			}
			return s
		})
		segs := strings.Split(p, "/")
		cut := func() { segs[len(segs)-1], _, _ = strings.Cut(segs[len(segs)-1], ";") }
		cut()
		if len(segs) > 1 && segs[len(segs)-1] == "" {
			segs = segs[:len(segs)-1]
			cut()
		}
		return strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, strings.Join(segs, "/"))
	}
	return key(p) == key(c.verifyPath) || key(p) == key(c.redirectPath)
}

// refRoute is SPEC 3's routing written out: the method decides on the filter's own paths,
// the lookalike rule elsewhere.
func refRoute(c *config, method, path string) route {
	p, _, _ := strings.Cut(path, "?")
	methods := map[string]map[string]route{
		c.verifyPath:   {"POST": routeVerify, "OPTIONS": routePreflight},
		c.redirectPath: {"GET": routeRedirect},
	}
	if m, ok := methods[p]; ok {
		if r, ok := m[method]; ok {
			return r
		}
		return routeWrongMethod
	}
	if refLookalike(c, path) {
		return routeLookalike
	}
	return routeNone
}

// FuzzRoute: the method and lookalike decisions agree with the reference on any method and
// path, for the default paths and for configured ones.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/passwordless/verify", "/Passwordless/Verify/", "/passwordless/verify;a=b/", "/passwordless/%76erify",
		"/passwordless/verify%3B", "/pv/;x", "/PV?otp=1", "/R//", "/passwordless/verify_redirect;a?x", "/passwordless/verify_redirect?otp=1"} {
		for _, m := range []string{"POST", "GET", "OPTIONS", "HEAD", "PUT", "post"} {
			f.Add(m, s)
		}
	}
	configs := []*config{{verifyPath: defaultVerifyPath, redirectPath: defaultRedirectPath}, {verifyPath: "/pv", redirectPath: "/R/"}}
	f.Fuzz(func(t *testing.T, method, path string) {
		for _, c := range configs {
			if got, want := c.route(method, path), refRoute(c, method, path); got != want {
				t.Errorf("paths %s and %s: route(%q, %q) = %d, reference %d", c.verifyPath, c.redirectPath, method, path, got, want)
			}
		}
	})
}
