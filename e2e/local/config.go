package local

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ExampleConfig is the plugin configuration used when none is given: tenant acme with the
// passwordless connections email and sms, client acme-web using both (with a login page on
// http://127.0.0.1:3000 as its web origin and /callback there as its callback), the tenant
// taken from x-tenant-id or from a host under .localhost (acme.localhost, for browsers, which
// send no tenant header), and identity headers named so that forward mode has something to
// set (and so that a client-sent copy is removed in either mode).
//
//go:embed example-config.json
var ExampleConfig []byte

// Modes of on_success.mode; ModeAsConfigured leaves the configuration's own choice.
const (
	ModeAsConfigured = ""
	ModeRespond      = "respond"
	ModeForward      = "forward"
)

// PluginConfig returns cfg (ExampleConfig when nil) with on_success.mode set to mode. With
// ModeAsConfigured the bytes are returned untouched, so the plugin judges exactly what the
// operator wrote.
func PluginConfig(cfg []byte, mode string) ([]byte, error) {
	if cfg == nil {
		cfg = ExampleConfig
	}
	switch mode {
	case ModeAsConfigured:
		return cfg, nil
	case ModeRespond, ModeForward:
	default:
		return nil, fmt.Errorf("mode %q: want %s or %s", mode, ModeRespond, ModeForward)
	}
	return setMember(cfg, json.RawMessage(strconv.Quote(mode)), "on_success", "mode")
}

// FleetGlobal is the attack_protection.global of make run-fleet (SPEC 14): the rate-limit
// service on the cluster RateLimitCluster, with the defaults of SPEC 14 for the rest
// (timeout_ms 200, failure_mode_deny false: a failed call leaves section 7's local limits).
const FleetGlobal = `{"cluster":"` + RateLimitCluster + `"}`

// WithGlobal returns cfg with attack_protection.global set to global.
func WithGlobal(cfg []byte, global string) ([]byte, error) {
	return setMember(cfg, json.RawMessage(global), "attack_protection", "global")
}

// setMember returns cfg with the member at path set to value, making the objects on the way.
func setMember(cfg []byte, value json.RawMessage, path ...string) ([]byte, error) {
	// Rewriting goes through maps, which would quietly merge a duplicated key that the
	// plugin refuses; refuse it here instead so a rewrite never hides a configuration error.
	if err := checkNoDuplicateKeys(cfg); err != nil {
		return nil, fmt.Errorf("plugin configuration: %w", err)
	}
	out, err := setAt(cfg, value, "", path)
	if err != nil {
		return nil, fmt.Errorf("plugin configuration: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, out, "", "  "); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// setAt sets path inside the object raw (nil: a new one); field names raw in errors.
func setAt(raw, value json.RawMessage, field string, path []string) (json.RawMessage, error) {
	if len(path) == 0 {
		return value, nil
	}
	obj := map[string]json.RawMessage{}
	if raw != nil {
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			if field == "" {
				return nil, errors.New("must be an object")
			}
			return nil, fmt.Errorf("%s: must be an object", field)
		}
	}
	inner, err := setAt(obj[path[0]], value, strings.TrimPrefix(field+"."+path[0], "."), path[1:])
	if err != nil {
		return nil, err
	}
	obj[path[0]] = inner
	return json.Marshal(obj)
}

// checkNoDuplicateKeys reports the first object key that appears twice in one object.
func checkNoDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkValue(dec, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

func walkValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			if seen[key] {
				return fmt.Errorf("%s%s: duplicate key", path, key)
			}
			seen[key] = true
			if err := walkValue(dec, path+key+"."); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec, path); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
	}
	return err
}
