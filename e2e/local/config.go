package local

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
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
	// Rewriting goes through a map, which would quietly merge a duplicated key that the
	// plugin refuses; refuse it here instead so -mode never hides a configuration error.
	if err := checkNoDuplicateKeys(cfg); err != nil {
		return nil, fmt.Errorf("plugin configuration: %w", err)
	}
	var root map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &root); err != nil {
		return nil, fmt.Errorf("plugin configuration: %w", err)
	}
	onSuccess := map[string]json.RawMessage{}
	if raw, ok := root["on_success"]; ok {
		if err := json.Unmarshal(raw, &onSuccess); err != nil || onSuccess == nil {
			return nil, errors.New("plugin configuration: on_success: must be an object")
		}
	}
	onSuccess["mode"] = json.RawMessage(strconv.Quote(mode))
	raw, err := json.Marshal(onSuccess)
	if err != nil {
		return nil, err
	}
	root["on_success"] = raw
	return json.MarshalIndent(root, "", "  ")
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
