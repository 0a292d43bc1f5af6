package store_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

func TestAdminUsers(t *testing.T) {
	e := newEnv(t, store.Options{})
	body := `{"tenant":"acme","connection":"sms","username":"+15550100","user_id":"sms|1","profile":{"phone_number":"+15550100"},"allowed_clients":["acme-web"]}`
	status, got := e.post(t, "/admin/users", body)
	expect(t, status, got, http.StatusCreated, `{"connection":"sms","created":true,"tenant":"acme","user_id":"sms|1","username":"+15550100"}`)
	status, got = e.post(t, "/admin/users", body)
	expect(t, status, got, http.StatusOK, `{"connection":"sms","created":false,"tenant":"acme","user_id":"sms|1","username":"+15550100"}`)

	for _, tt := range []struct{ name, body, wantDesc string }{
		{"missing user_id", `{"tenant":"acme","connection":"sms","username":"x"}`, "invalid user: missing user_id"},
		{"profile not an object", `{"tenant":"acme","connection":"sms","username":"x","user_id":"1","profile":[1]}`, "invalid user: profile must be a JSON object"},
		{"profile sets user_id", `{"tenant":"acme","connection":"sms","username":"x","user_id":"1","profile":{"user_id":"2"}}`, `invalid user: profile may not set \"user_id\"`},
		{"empty client", `{"tenant":"acme","connection":"sms","username":"x","user_id":"1","allowed_clients":[""]}`, "invalid user: allowed_clients may not contain an empty string"},
		{"unknown field", `{"tenant":"acme","connection":"sms","username":"x","user_id":"1","admin":true}`, `malformed JSON body: json: unknown field \"admin\"`},
		{"two values", `{} {}`, "malformed JSON body: body must hold a single JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, got := e.post(t, "/admin/users", tt.body)
			expect(t, status, got, http.StatusBadRequest, `{"error":"invalid_request","error_description":"`+tt.wantDesc+`"}`)
		})
	}

	status, got = e.post(t, "/admin/users/block", `{"tenant":"acme","connection":"email","username":"bob@example.com","blocked":true}`)
	expect(t, status, got, http.StatusNotFound, `{"error":"not_found","error_description":"unknown user"}`)
	status, got = e.post(t, "/admin/users/block", `{"tenant":"acme","connection":"email","username":"alice@example.com"}`)
	expect(t, status, got, http.StatusBadRequest, `{"error":"invalid_request","error_description":"blocked (true or false) is required"}`)
}

func TestStartWritesOutbox(t *testing.T) {
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	e := newEnv(t, store.Options{Outbox: outbox})
	status, body := e.post(t, "/passwordless/start", `{"tenant":"acme","connection":"email","email":"Alice@Example.com"}`)
	expect(t, status, body, http.StatusOK, `{}`)

	data, err := os.ReadFile(filepath.Clean(outbox))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("outbox has %d lines: %q", len(lines), data)
	}
	var line struct {
		Tenant, Connection, Username, Code string
		ExpiresAt                          time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line.Tenant != tenant || line.Connection != connection || line.Username != email ||
		!regexp.MustCompile(`^[0-9]{6}$`).MatchString(line.Code) || !line.ExpiresAt.Equal(t0.Add(store.DefaultCodeTTL)) {
		t.Fatalf("outbox line %s", lines[0])
	}
	if status, body := e.verify(t, line.Code); status != http.StatusOK {
		t.Fatalf("code from outbox: got %d %s", status, body)
	}
}

func TestStartLogsCodeWithoutOutbox(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, store.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	status, body := e.post(t, "/passwordless/start", `{"tenant":"acme","connection":"email","username":"alice@example.com"}`)
	expect(t, status, body, http.StatusOK, `{}`)
	m := regexp.MustCompile(`local development only: one-time code issued.*code=([0-9]{6})`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no code in the log:\n%s", logs.String())
	}
	if status, body := e.verify(t, m[1]); status != http.StatusOK {
		t.Fatalf("code from log: got %d %s", status, body)
	}
}

func TestStartErrors(t *testing.T) {
	e := newEnv(t, store.Options{})
	for _, tt := range []struct {
		name, body, want string
		status           int
	}{
		{"unknown user", `{"tenant":"acme","connection":"email","email":"bob@example.com"}`, `{"error":"not_found","error_description":"unknown user"}`, http.StatusNotFound},
		{"unknown connection", `{"tenant":"acme","connection":"sms","phone_number":"+15550100"}`, `{"error":"bad.connection","error_description":"unknown tenant or connection"}`, http.StatusNotFound},
		{"no username", `{"tenant":"acme","connection":"email"}`, `{"error":"invalid_request","error_description":"tenant, connection and username (or email or phone_number) are required"}`, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post(t, "/passwordless/start", tt.body)
			expect(t, status, body, tt.status, tt.want)
		})
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, store.Options{})
	status, body := e.do(t, http.MethodGet, "/healthz", "")
	expect(t, status, body, http.StatusOK, `{"status":"ok"}`)
	status, body = e.post(t, "/healthz", "")
	expect(t, status, body, http.StatusMethodNotAllowed, `{"error":"method_not_allowed","error_description":"use GET"}`)
}
