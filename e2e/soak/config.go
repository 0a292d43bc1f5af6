package soak

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/passwordless-verify/filter/e2e/local"
)

// limits are SPEC 7's settings the soak runs with. The windows outlast any soak, so a count
// only ever grows (or is cleared by a success) while the soak runs.
type limits struct {
	maxAttempts int
	ipMax       int
	timeoutMS   int
	global      bool // attack_protection.global on the rate-limit service (SPEC 14)
}

const (
	soakWindowSeconds = 7 * 24 * 3600
	soakMaxAttempts   = 5
)

// pluginConfig is envoy/local.yaml's plugin configuration with what the soak's requests need:
// a second tenant (row 12), a connection the client may not use (row 16), its limits, and
// the mode.
func pluginConfig(l limits, mode string) ([]byte, error) {
	raw, err := local.EnvoyPluginConfig()
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	tenants, _ := cfg["tenants"].(map[string]any)
	acme, _ := tenants[tenant].(map[string]any)
	conns, _ := acme["connections"].(map[string]any)
	userStore, _ := cfg["user_store"].(map[string]any)
	onSuccess, _ := cfg["on_success"].(map[string]any)
	if conns == nil || userStore == nil || onSuccess == nil {
		return nil, errors.New("envoy/local.yaml's plugin configuration has no tenant acme, user_store or on_success")
	}
	tenants["globex"] = map[string]any{
		"connections": map[string]any{"globex-email": map[string]any{"strategy": "email", "enabled": true}},
		"clients":     map[string]any{"globex-web": map[string]any{"connections": []any{"globex-email"}}},
	}
	conns["email-b"] = map[string]any{"strategy": "email", "enabled": true}
	userStore["timeout_ms"] = l.timeoutMS
	onSuccess["mode"] = mode
	ap := map[string]any{
		"max_attempts": l.maxAttempts, "window_seconds": soakWindowSeconds,
		"ip_max_failures": l.ipMax, "ip_window_seconds": soakWindowSeconds,
	}
	if l.global {
		ap["global"] = map[string]any{"cluster": local.RateLimitCluster}
	}
	cfg["attack_protection"] = ap
	return json.Marshal(cfg)
}

// Fleet-wide limits (SPEC 14) hold for two attackers' addresses only: the service counts
// every attempt, and the soak's ordinary users log in far more often than any real limit
// allows. One attacker meets the limit per user and address, the other the one per address.
const (
	globalUserLimitedIP = "127.0.0.101"
	globalUserLimit     = soakMaxAttempts - 1 // under the local limit, so the service refuses first
	globalIPLimitedIP   = "127.0.0.100"
	globalIPLimit       = 150
)

// serviceLimits is the rate-limit service's configuration for the soak: the shipped one's
// descriptors, with the limits above for the two attackers and none worth the name for the rest.
func serviceLimits() []byte {
	return []byte(fmt.Sprintf(`domain: passwordless_verify
descriptors:
  - key: tenant
    descriptors:
      - key: connection
        descriptors:
          - key: user
            descriptors:
              - key: client_ip
                value: %q
                rate_limit: {unit: hour, requests_per_unit: %d}
              - key: client_ip
                rate_limit: {unit: hour, requests_per_unit: 1000000000}
      - key: client_ip
        value: %q
        rate_limit: {unit: hour, requests_per_unit: %d}
      - key: client_ip
        rate_limit: {unit: hour, requests_per_unit: 1000000000}
`, globalUserLimitedIP, globalUserLimit, globalIPLimitedIP, globalIPLimit))
}
