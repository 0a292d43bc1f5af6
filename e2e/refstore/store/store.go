// Package store is the reference user store: it answers the filter's verification calls
// (SPEC.md section 6) from a SQLite file.
//
// Besides verification it has an admin surface (create and block users, issue codes) that
// is for local development and end-to-end tests only: it has no authentication and must
// never be reachable from outside the machine.
package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Defaults for Options.
const (
	DefaultCodeTTL = 3 * time.Minute
	MaxAttempts    = 3 // wrong tries that invalidate a code
)

// Options configures a Store. The zero value is usable.
type Options struct {
	CodeTTL time.Duration    // lifetime of an issued code; DefaultCodeTTL when zero
	Now     func() time.Time // clock; time.Now when nil
	Outbox  string           // file that receives issued codes as JSON lines; the log when empty
	Logger  *slog.Logger     // slog.Default() when nil
}

// Store is a user store backed by one SQLite file. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	codeTTL time.Duration
	now     func() time.Time
	outbox  outbox
	log     *slog.Logger
}

// Open opens (creating if needed) the database at path and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, errors.New("store: database path must be non-empty and contain no '?'")
	}
	s := &Store{codeTTL: opts.CodeTTL, now: opts.Now, log: opts.Logger}
	if s.codeTTL <= 0 {
		s.codeTTL = DefaultCodeTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.outbox = outbox{path: opts.Outbox, log: s.log}

	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.db = db
	return s, nil
}

// dsn sets, for every pooled connection: WAL so readers do not block the writer, FULL sync
// so a committed verification survives a crash, a busy timeout so writers queue instead of
// failing, foreign keys, and BEGIN IMMEDIATE so each transaction holds the write lock from
// its start (concurrent verifications of one code are serialised).
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// inTx runs fn in one transaction (BEGIN IMMEDIATE) and commits if fn returns no error.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error is the one worth reporting
		return err
	}
	return tx.Commit()
}
