package bench

import (
	"testing"

	"github.com/tidwall/gjson"
)

// TestUnprotectedConfig: the ours-unprotected variant differs from ours only in attack
// protection, and has it off; a Config that changed its attack_protection line would
// otherwise measure ours twice.
func TestUnprotectedConfig(t *testing.T) {
	got := gjson.Get(UnprotectedConfig, "attack_protection")
	if got.Get("max_attempts").Int() != 0 || !got.Get("ip_max_failures").Exists() || got.Get("ip_max_failures").Int() != 0 {
		t.Fatalf("attack_protection in UnprotectedConfig is %s", got.Raw)
	}
	if gjson.Get(Config, "attack_protection.max_attempts").Int() == 0 {
		t.Fatal("Config has attack protection off")
	}
	for _, key := range []string{"tenants", "user_store", "on_success", "tenant", "verify_path", "max_request_bytes"} {
		if a, b := gjson.Get(Config, key).Raw, gjson.Get(UnprotectedConfig, key).Raw; a != b {
			t.Errorf("%s differs: %s against %s", key, a, b)
		}
	}
}
