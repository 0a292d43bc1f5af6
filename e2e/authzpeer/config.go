// Package authzpeer is the peer our filter is measured against: the authorization service a
// platform team would write for Envoy's native ext_authz HTTP filter, doing the work of SPEC
// sections 3 to 7 for POST verify_path plainly, with net/http and encoding/json. Envoy sends
// it the verify request (headers and, with with_request_body, the whole body); it answers 200
// to let Envoy answer 200 itself, or the error that Envoy passes to the client. It reads the
// same plugin configuration as the filter, calls the same user store the same way, and counts
// attempts in memory. e2e/cmd/benchenvoy runs it in its own process so its CPU is counted
// apart from Envoy's.
package authzpeer

import (
	"encoding/json"
	"errors"
	"time"
)

// Config is the part of the plugin configuration (SPEC 2) the service uses; other fields are
// ignored.
type Config struct {
	VerifyPath      string `json:"verify_path"`
	MaxRequestBytes int    `json:"max_request_bytes"`
	Tenant          struct {
		Header     string `json:"header"`
		HostSuffix string `json:"host_suffix"`
		Default    string `json:"default"`
	} `json:"tenant"`
	Tenants map[string]struct {
		Connections map[string]struct {
			Strategy string `json:"strategy"`
			Enabled  bool   `json:"enabled"`
		} `json:"connections"`
		Clients map[string]struct {
			Connections []string `json:"connections"`
		} `json:"clients"`
	} `json:"tenants"`
	UserStore struct {
		Authority string `json:"authority"`
		Path      string `json:"path"`
		TimeoutMS int    `json:"timeout_ms"`
	} `json:"user_store"`
	AttackProtection struct {
		MaxAttempts     *int `json:"max_attempts"`
		WindowSeconds   int  `json:"window_seconds"`
		IPMaxFailures   *int `json:"ip_max_failures"`
		IPWindowSeconds int  `json:"ip_window_seconds"`
	} `json:"attack_protection"`
	OnSuccess struct {
		PassHeaders []string `json:"pass_headers"`
	} `json:"on_success"`
}

// ParseConfig reads the plugin configuration and fills in SPEC 2's defaults.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if len(c.Tenants) == 0 {
		return nil, errors.New("tenants: at least one is required")
	}
	defaults := []struct {
		v   *int
		def int
	}{{&c.MaxRequestBytes, 16384}, {&c.UserStore.TimeoutMS, 1000},
		{&c.AttackProtection.WindowSeconds, 900}, {&c.AttackProtection.IPWindowSeconds, 3600}}
	for _, d := range defaults {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.VerifyPath == "" {
		c.VerifyPath = "/passwordless/verify"
	}
	if c.UserStore.Path == "" {
		return nil, errors.New("user_store.path is required")
	}
	if c.AttackProtection.MaxAttempts == nil {
		c.AttackProtection.MaxAttempts = ptr(10)
	}
	if c.AttackProtection.IPMaxFailures == nil {
		c.AttackProtection.IPMaxFailures = ptr(100)
	}
	return &c, nil
}

func ptr(n int) *int { return &n }

func (c *Config) storeTimeout() time.Duration {
	return time.Duration(c.UserStore.TimeoutMS) * time.Millisecond
}
