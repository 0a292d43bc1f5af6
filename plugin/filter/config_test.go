package filter

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.verifyPath != "/passwordless/verify" || c.maxRequestBytes != 16384 || c.mode != modeRespond ||
		c.userStore.authority != "us" || c.userStore.path != "/v1/passwordless/verify" ||
		c.userStore.timeoutMS != 1000 || c.maxAttempts != 10 || c.windowSeconds != 900 ||
		c.ipMaxFailures != 100 || c.ipWindowSeconds != 3600 {
		t.Errorf("defaults: %+v", c)
	}
}

// TestParseConfigGlobal: attack_protection.global is off unless given; given, only cluster is
// required, and the rest has SPEC 14's defaults.
func TestParseConfigGlobal(t *testing.T) {
	c, err := parseConfig([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"}}`))
	if err != nil || c.global != nil {
		t.Fatalf("without global: %+v %v", c.global, err)
	}
	c, err = parseConfig([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"},"attack_protection":{"global":{"cluster":"rl"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (globalConfig{cluster: "rl", authority: "rl", path: "/json", domain: "passwordless_verify", timeoutMS: 200}); *c.global != want {
		t.Errorf("defaults %+v, want %+v", *c.global, want)
	}
	c, err = parseConfig([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"},"attack_protection":{"global":` +
		`{"cluster":"rl","authority":"rls.internal","path":"/rl/json","domain":"login","timeout_ms":60000,"failure_mode_deny":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (globalConfig{"rl", "rls.internal", "/rl/json", "login", 60000, true}); *c.global != want {
		t.Errorf("given %+v, want %+v", *c.global, want)
	}
}

func TestParseConfigFull(t *testing.T) {
	c, err := parseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	if !c.tenants["acme"].clients["acme-web"].connections["sms"] || c.tenants["acme"].connections["sms"].enabled {
		t.Errorf("tenant acme: %+v", c.tenants["acme"])
	}
	if !c.tenants["acme"].connections["magic"].enabled {
		t.Error("enabled must default to true")
	}
	if !c.anyTenantConnections["globex-email"] || len(c.identityHeaders) != 2 {
		t.Errorf("config: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	const base = `"tenants":{"acme":{}},"user_store":{"cluster":"us"}`
	for _, c := range []struct{ cfg, want string }{
		{``, "configuration: empty; required: tenants, user_store.cluster"},
		{" \n", "configuration: empty; required: tenants, user_store.cluster"},
		{`{}`, "tenants, user_store.cluster: required"},
		{`{`, "configuration: unexpected end at byte 1"},
		{`{"a":1}x`, "configuration: not valid JSON"},
		{`{"a":"\ud800"}`, `configuration: unpaired UTF-16 surrogate in \u escape at byte 6`},
		{"{\"a\":\"\xff\"}", "configuration: invalid UTF-8 at byte 6"},
		{strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), "configuration: nested more than 64 levels deep"},
		{`{"tenants":{"acme":{"connections":{"e":{"strategy":"email","strategy":"sms"}}}}}`, `tenants.acme.connections.e: duplicate key "strategy"`},
		{`[]`, "configuration: must be an object"},
		{`{"user_store":{"cluster":"us"}}`, "tenants: required"},
		{`{"tenants":{},"user_store":{"cluster":"us"}}`, "tenants: at least one tenant is required"},
		{`{"tenants":{"acme":{}}}`, "user_store.cluster: required"},
		{`{` + base + `,"verify_pth":"/x"}`, "verify_pth: unknown key"},
		{`{` + base + `,"verify_path":"x"}`, "verify_path: must be a path"},
		{`{` + base + `,"max_request_bytes":"16384"}`, "max_request_bytes: must be a number"},
		{`{` + base + `,"max_request_bytes":1.5}`, "max_request_bytes: must be a whole number"},
		{`{` + base + `,"max_request_bytes":0}`, "max_request_bytes: must be a whole number from 1"},
		{`{` + base + `,"tenant":{"hedaer":"x"}}`, "tenant.hedaer: unknown key"},
		{`{` + base + `,"tenant":{"header":"x y"}}`, `tenant.header: "x y" is not a valid header name`},
		{`{` + base + `,"tenant":{"host_suffix":"example.com"}}`, `tenant.host_suffix: must start with "."`},
		{`{` + base + `,"tenant":{"default":"initech"}}`, `tenant.default: "initech" is not in tenants`},
		{`{"tenants":{"Acme":{}},"user_store":{"cluster":"us"}}`, "tenants.Acme: tenant name may contain only"},
		{`{"tenants":{"acme":{"connections":{"e":{}}}},"user_store":{"cluster":"us"}}`, "tenants.acme.connections.e.strategy: required"},
		{`{"tenants":{"acme":{"connections":{"e":{"strategy":"email","enabled":"yes"}}}},"user_store":{"cluster":"us"}}`, "tenants.acme.connections.e.enabled: must be true or false"},
		{`{"tenants":{"acme":{"clients":{"c":{"connections":["nope"]}}}},"user_store":{"cluster":"us"}}`, `tenants.acme.clients.c.connections: "nope" is not a connection of this tenant`},
		{`{"tenants":{"acme":{"clients":{"c":{"conections":[]}}}},"user_store":{"cluster":"us"}}`, "tenants.acme.clients.c.conections: unknown key"},
		{`{"tenants":{"acme":{},"acme":{}},"user_store":{"cluster":"us"}}`, `tenants: duplicate key "acme"`},
		{`{` + base + `,"user_store":{"cluster":"us"}}`, `configuration: duplicate key "user_store"`},
		{`{"tenants":{"acme":{}},"user_store":{"cluster":5}}`, "user_store.cluster: must be a string"},
		{`{` + base[:len(base)-1] + `,"timeout_ms":0}}`, "user_store.timeout_ms: must be a whole number from 1 to 60000"},
		{`{` + base + `,"attack_protection":{"max_attempts":-1}}`, "attack_protection.max_attempts: must be a whole number"},
		{`{` + base + `,"attack_protection":{"max_attempts":65536}}`, "attack_protection.max_attempts: must be a whole number from 0 to 65535"},
		{`{` + base + `,"attack_protection":{"ip_max_failures":-1}}`, "attack_protection.ip_max_failures: must be a whole number from 0 to 65535"},
		{`{` + base + `,"attack_protection":{"ip_max_failures":"100"}}`, "attack_protection.ip_max_failures: must be a number"},
		{`{` + base + `,"attack_protection":{"ip_window_seconds":0}}`, "attack_protection.ip_window_seconds: must be a whole number from 1 to 604800"},
		{`{` + base + `,"attack_protection":{"ip_windows_seconds":60}}`, "attack_protection.ip_windows_seconds: unknown key"},
		{`{` + base + `,"attack_protection":{"global":true}}`, "attack_protection.global: must be an object"},
		{`{` + base + `,"attack_protection":{"global":{}}}`, "attack_protection.global.cluster: required"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":""}}}`, "attack_protection.global.cluster: must not be empty"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":7}}}`, "attack_protection.global.cluster: must be a string"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","clustr":"rl"}}}`, "attack_protection.global.clustr: unknown key"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","authority":""}}}`, "attack_protection.global.authority: must not be empty"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","path":"json"}}}`, `attack_protection.global.path: must be a path starting with "/"`},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","domain":""}}}`, "attack_protection.global.domain: must not be empty"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","timeout_ms":0}}}`, "attack_protection.global.timeout_ms: must be a whole number from 1 to 60000"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","timeout_ms":60001}}}`, "attack_protection.global.timeout_ms: must be a whole number from 1 to 60000"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","timeout_ms":"200"}}}`, "attack_protection.global.timeout_ms: must be a number"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","failure_mode_deny":"yes"}}}`, "attack_protection.global.failure_mode_deny: must be true or false"},
		{`{` + base + `,"attack_protection":{"global":{"cluster":"rl","cluster":"rl2"}}}`, `attack_protection.global: duplicate key "cluster"`},
		{`{` + base + `,"on_success":{"mode":"redirect"}}`, `on_success.mode: must be "respond" or "forward"`},
		{`{` + base + `,"on_success":{"pass_headers":[1]}}`, "on_success.pass_headers: must be an array of header names"},
		{`{` + base + `,"on_success":{"identity_headers":{":path":"user_id"}}}`, `on_success.identity_headers.:path: ":path" is a pseudo-header`},
		{`{` + base + `,"on_success":{"identity_headers":{"x-user":""}}}`, "on_success.identity_headers.x-user: must name an answer field"},
	} {
		_, err := parseConfig([]byte(c.cfg))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("parseConfig(%s)\n got %v\nwant prefix %q", c.cfg, err, c.want)
		}
	}
}

func TestParseConfigAttackProtection(t *testing.T) {
	c, err := parseConfig([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"},
		"attack_protection":{"max_attempts":0,"window_seconds":60,"ip_max_failures":0,"ip_window_seconds":120}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.maxAttempts != 0 || c.windowSeconds != 60 || c.ipMaxFailures != 0 || c.ipWindowSeconds != 120 {
		t.Errorf("attack_protection: %+v", c)
	}
}

// TestParseConfigHeaderNames: SPEC 2; the headers the filter copies or sets are HTTP tokens,
// compared without regard to case, and never one that frames the message or picks the tenant.
func TestParseConfigHeaderNames(t *testing.T) {
	for _, c := range []struct {
		tenantHeader, name string
		want               string // "" = accepted
	}{
		{"", "x-user", ""},
		{"", "X-User-ID", ""},
		{"x-tenant-id", "x-tenant", ""},
		{"", "set-cookie", ""},
		{"", "x user", `"x user" is not a valid header name`},
		{"", "x-ü", `"x-ü" is not a valid header name`},
		{"", "", "empty header name"},
		{"", ":path", `":path" is a pseudo-header`},
		{"", ":Authority", `":authority" is a pseudo-header`},
		{"x-tenant-id", "X-Tenant-ID", `"x-tenant-id" is the tenant header`},
	} {
		tenant := ""
		if c.tenantHeader != "" {
			tenant = `,"tenant":{"header":"` + c.tenantHeader + `"}`
		}
		for field, cfg := range map[string]string{
			"on_success.pass_headers":               `{"pass_headers":["` + c.name + `"]}`,
			"on_success.identity_headers." + c.name: `{"identity_headers":{"` + c.name + `":"user_id"}}`,
		} {
			_, err := parseConfig([]byte(`{"on_success":` + cfg + `,"tenants":{"acme":{}},"user_store":{"cluster":"us"}` + tenant + `}`))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s %q: %v", field, c.name, err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), field) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s %q: %v, want %q naming the field", field, c.name, err, c.want)
			}
		}
	}
	for _, name := range []string{"host", "Content-Length", "content-type", "transfer-encoding", "connection",
		"keep-alive", "proxy-connection", "TE", "trailer", "upgrade"} {
		for field, cfg := range map[string]string{
			"on_success.pass_headers":      `{"pass_headers":["` + name + `"]}`,
			"on_success.identity_headers.": `{"identity_headers":{"` + name + `":"user_id"}}`,
		} {
			_, err := parseConfig([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"},"on_success":` + cfg + `}`))
			want := strconv.Quote(strings.ToLower(name)) + " is a framing or hop-by-hop header"
			if err == nil || !strings.HasPrefix(err.Error(), field) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %q: %v, want %q", field, name, err, want)
			}
		}
	}
}

// FuzzParseConfig: any configuration is accepted or refused with an error naming a field,
// never a panic (which would fail Envoy's plugin start with no reason given).
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(testConfig))
	f.Add([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"}}`))
	f.Add([]byte(`{"tenants":{"acme":{"clients":{"c":{"connections":["x"]}}}}}`))
	f.Add([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"},"attack_protection":{"global":{"cluster":"rl","timeout_ms":50}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data)
		switch {
		case err != nil && (c != nil || err.Error() == ""):
			t.Fatalf("config %v with error %q", c, err)
		case err == nil && (len(c.tenants) == 0 || c.userStore.cluster == "" || c.userStore.authority == ""):
			t.Fatalf("accepted without its required fields: %+v", c)
		case err == nil && c.global != nil && (c.global.cluster == "" || c.global.authority == "" || c.global.domain == "" || c.global.timeoutMS == 0):
			t.Fatalf("global accepted without its required fields: %+v", c.global)
		}
	})
}

// TestParseConfigClientURLs: SPEC 2's callbacks and web_origins, and verify_redirect_path.
func TestParseConfigClientURLs(t *testing.T) {
	const head = `{"user_store":{"cluster":"us"},"tenants":{"acme":{"clients":{"web":`
	okCases := []struct{ client, redirectPath string }{
		{`{}`, ""},
		{`{"callbacks":[],"web_origins":[]}`, ""},
		{`{"callbacks":["https://app.example.com/cb","https://app.example.com:8443/cb?x=1","http://localhost:3000/cb","http://127.0.0.1/cb","https://[2001:db8::1]/cb"]}`, ""},
		{`{"web_origins":["https://app.example.com","http://127.0.0.1:3000","http://localhost","https://[::1]:8443","http://app.example.com"]}`, ""},
		{`{}`, "/login/redirect"},
	}
	for _, c := range okCases {
		cfg := head + c.client + `}}}}`
		if c.redirectPath != "" {
			cfg = `{"user_store":{"cluster":"us"},"tenants":{"acme":{}},"verify_redirect_path":"` + c.redirectPath + `"}`
		}
		got, err := parseConfig([]byte(cfg))
		if err != nil {
			t.Errorf("%s: %v", c.client, err)
			continue
		}
		want := defaultRedirectPath
		if c.redirectPath != "" {
			want = c.redirectPath
		}
		if got.redirectPath != want {
			t.Errorf("redirect path %q, want %q", got.redirectPath, want)
		}
	}
	c, err := parseConfig([]byte(head + `{"callbacks":["https://a.example/cb"],"web_origins":["https://a.example"]},"m":{"web_origins":["http://127.0.0.1:3000"]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	acme := c.tenants["acme"]
	if len(acme.clients["web"].callbacks) != 1 || len(acme.clients["m"].callbacks) != 0 ||
		!acme.webOrigins["https://a.example"] || !acme.webOrigins["http://127.0.0.1:3000"] || len(acme.webOrigins) != 2 {
		t.Errorf("clients %+v %+v, tenant origins %v", acme.clients["web"], acme.clients["m"], acme.webOrigins)
	}

	const f = "tenants.acme.clients.web."
	for _, e := range []struct{ client, want string }{
		{`{"callbacks":"https://a.example/cb"}`, f + "callbacks: must be an array of URLs"},
		{`{"callbacks":[1]}`, f + "callbacks: must be an array of URLs"},
		{`{"callbacks":["/cb"]}`, f + `callbacks: "/cb" must start with https:// or http://`},
		{`{"callbacks":["ftp://a.example/cb"]}`, f + `callbacks: "ftp://a.example/cb" must start with https://`},
		{`{"callbacks":["HTTPS://a.example/cb"]}`, f + `callbacks: "HTTPS://a.example/cb" must start with https://`},
		{`{"callbacks":["http://a.example/cb"]}`, f + `callbacks: "http://a.example/cb" must use https (http only for localhost and 127.0.0.1)`},
		{`{"callbacks":["http://127.0.0.2/cb"]}`, f + `callbacks: "http://127.0.0.2/cb" must use https`},
		{`{"callbacks":["https://a.example/cb#x"]}`, f + `callbacks: "https://a.example/cb#x" must not have a fragment`},
		{`{"callbacks":["https://u@a.example/cb"]}`, f + `callbacks: "https://u@a.example/cb" must name a host, without user information`},
		{`{"callbacks":["https:///cb"]}`, f + `callbacks: "https:///cb" must name a host`},
		{`{"callbacks":["https://a.example:0/cb"]}`, f + `callbacks: "https://a.example:0/cb" has an invalid port`},
		{`{"callbacks":["https://a.example:99999"]}`, f + `callbacks: "https://a.example:99999" has an invalid port`},
		{`{"callbacks":["https://a.example/a b"]}`, f + `callbacks: "https://a.example/a b" must be ASCII`},
		{`{"callbacks":["https://a.example/é"]}`, f + `callbacks: "https://a.example/é" must be ASCII`},
		{`{"web_origins":["https://a.example/"]}`, f + `web_origins: "https://a.example/" must be scheme://host[:port] with nothing after it`},
		{`{"web_origins":["https://a.example?x"]}`, f + `web_origins: "https://a.example?x" must be scheme://host[:port] with nothing after it`},
		{`{"web_origins":["https://A.example"]}`, f + `web_origins: "https://A.example" must be lower case`},
		{`{"web_origins":["https://a.example:443"]}`, f + `web_origins: "https://a.example:443" must leave out the default port`},
		{`{"web_origins":["http://a.example:80"]}`, f + `web_origins: "http://a.example:80" must leave out the default port`},
		{`{"web_origins":["*"]}`, f + `web_origins: "*" must start with https:// or http://`},
		{`{"web_origins":[null]}`, f + "web_origins: must be an array of origins"},
		{`{"web_orgins":[]}`, f + "web_orgins: unknown key"},
	} {
		_, err := parseConfig([]byte(head + e.client + `}}}}`))
		if err == nil || !strings.HasPrefix(err.Error(), e.want) {
			t.Errorf("%s\n got %v\nwant prefix %q", e.client, err, e.want)
		}
	}
	for cfg, want := range map[string]string{
		`{"user_store":{"cluster":"us"},"tenants":{"acme":{}},"verify_redirect_path":"nope"}`:                 "verify_redirect_path: must be a path",
		`{"user_store":{"cluster":"us"},"tenants":{"acme":{}},"verify_redirect_path":"/passwordless/verify"}`: "verify_redirect_path: must differ from verify_path",
	} {
		if _, err := parseConfig([]byte(cfg)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
}

// testConfig is the configuration the plugin's tests use too.
var testConfig = func() string {
	b, err := os.ReadFile(filepath.Join("testdata", "config.json"))
	if err != nil {
		panic(err)
	}
	return string(b)
}()
