package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"
)

// outbox stands in for the email/SMS sender: it appends each issued code as a JSON line to
// a file, or logs it when no file is set. Local development only.
type outbox struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex // one line per write, never interleaved
}

type outboxLine struct {
	Tenant     string    `json:"tenant"`
	Connection string    `json:"connection"`
	Username   string    `json:"username"`
	Code       string    `json:"code"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func (o *outbox) deliver(ctx context.Context, tenant, connection string, c issuedCode) error {
	if o.path == "" {
		o.log.InfoContext(ctx, "local development only: one-time code issued",
			"tenant", tenant, "connection", connection, "username", c.username,
			"code", c.code, "expires_at", c.expiresAt)
		return nil
	}
	line, err := json.Marshal(outboxLine{tenant, connection, c.username, c.code, c.expiresAt.UTC()})
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return errors.Join(err, f.Close())
}
