package main

import (
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
		c.userStore.timeoutMS != 1000 || c.maxAttempts != 10 || c.windowSeconds != 900 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestParseConfigFull(t *testing.T) {
	c, err := parseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	if !c.tenants["acme"].clients["acme-web"]["sms"] || c.tenants["acme"].connections["sms"].enabled {
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
		{``, "configuration: not valid JSON"},
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
		{`{` + base + `,"on_success":{"mode":"redirect"}}`, `on_success.mode: must be "respond" or "forward"`},
		{`{` + base + `,"on_success":{"pass_headers":[1]}}`, "on_success.pass_headers: must be an array of header names"},
		{`{` + base + `,"on_success":{"identity_headers":{":path":"user_id"}}}`, `on_success.identity_headers.:path: ":path" is not a valid header name`},
		{`{` + base + `,"on_success":{"identity_headers":{"x-user":""}}}`, "on_success.identity_headers.x-user: must name an answer field"},
	} {
		_, err := parseConfig([]byte(c.cfg))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("parseConfig(%s)\n got %v\nwant prefix %q", c.cfg, err, c.want)
		}
	}
}

// FuzzParseConfig: any configuration is accepted or refused with an error naming a field,
// never a panic (which would fail Envoy's plugin start with no reason given).
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(testConfig))
	f.Add([]byte(`{"tenants":{"acme":{}},"user_store":{"cluster":"us"}}`))
	f.Add([]byte(`{"tenants":{"acme":{"clients":{"c":{"connections":["x"]}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data)
		switch {
		case err != nil && (c != nil || err.Error() == ""):
			t.Fatalf("config %v with error %q", c, err)
		case err == nil && (len(c.tenants) == 0 || c.userStore.cluster == "" || c.userStore.authority == ""):
			t.Fatalf("accepted without its required fields: %+v", c)
		}
	})
}
