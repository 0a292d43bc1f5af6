package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order; version N is migrations[N-1]. Append only: never edit
// one that has shipped.
var migrations = []string{
	// 1: connections, users with their allowed clients, one-time codes.
	`CREATE TABLE connections (
		id         INTEGER PRIMARY KEY,
		tenant     TEXT NOT NULL,
		name       TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		UNIQUE (tenant, name)
	);
	CREATE TABLE users (
		id            INTEGER PRIMARY KEY,
		connection_id INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
		username      TEXT NOT NULL,
		user_id       TEXT NOT NULL,
		blocked       INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
		profile       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(profile)),
		created_at    INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL,
		UNIQUE (connection_id, username)
	);
	-- No rows: the user may use any client.
	CREATE TABLE user_clients (
		user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		client_id TEXT NOT NULL,
		PRIMARY KEY (user_id, client_id)
	) WITHOUT ROWID;
	CREATE TABLE codes (
		id         INTEGER PRIMARY KEY,
		user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		salt       BLOB NOT NULL,
		hash       BLOB NOT NULL, -- SHA-256(salt || code); the code itself is never stored
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		attempts   INTEGER NOT NULL DEFAULT 0,
		used       INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1))
	);
	CREATE INDEX codes_by_user ON codes (user_id, id);`,
	// 2: a code that passed the verify step may be used once more by the redirect step.
	`ALTER TABLE codes ADD COLUMN verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1));`,
}

// migrate creates schema_migrations and applies each missing migration in its own
// transaction. The version check runs inside that transaction, which holds the write lock,
// so two processes starting on one file cannot both apply a migration.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if newest > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this program (%d)", newest, len(migrations))
	}
	for i, m := range migrations {
		if err := applyMigration(ctx, db, i+1, m); err != nil {
			return fmt.Errorf("store: migration %d: %w", i+1, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, stmts string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	var applied bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, version).Scan(&applied); err != nil {
		return err
	}
	if applied {
		return nil
	}
	if _, err := tx.ExecContext(ctx, stmts); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
