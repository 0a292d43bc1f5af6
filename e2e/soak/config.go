package soak

import (
	"encoding/json"
	"strings"

	"github.com/passwordless-verify/filter/e2e/local"
)

// limits are SPEC 7's settings the soak runs with. The windows outlast any soak, so a count
// only ever grows (or is cleared by a success) while the soak runs.
type limits struct {
	maxAttempts int
	ipMax       int
	timeoutMS   int
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
	set(cfg, "tenants.globex", map[string]any{
		"connections": map[string]any{"globex-email": map[string]any{"strategy": "email", "enabled": true}},
		"clients":     map[string]any{"globex-web": map[string]any{"connections": []any{"globex-email"}}},
	})
	set(cfg, "tenants.acme.connections.email-b", map[string]any{"strategy": "email", "enabled": true})
	set(cfg, "user_store.timeout_ms", l.timeoutMS)
	set(cfg, "attack_protection", map[string]any{
		"max_attempts": l.maxAttempts, "window_seconds": soakWindowSeconds,
		"ip_max_failures": l.ipMax, "ip_window_seconds": soakWindowSeconds,
	})
	set(cfg, "on_success.mode", mode)
	return json.Marshal(cfg)
}

// set writes value at a dotted path of a JSON object, making the objects on the way.
func set(cfg map[string]any, path string, value any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := cfg[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cfg[k] = next
		}
		cfg = next
	}
	cfg[keys[len(keys)-1]] = value
}
