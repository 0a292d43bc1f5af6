package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	for i := range 3 {
		st, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			if _, err := st.PutUser(ctx, store.User{Tenant: tenant, Connection: connection, Username: email, UserID: "u1"}); err != nil {
				t.Fatal(err)
			}
		}
		// The user written by the first open is still there.
		if _, err := st.IssueCode(ctx, tenant, connection, email); err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}

	db := openRaw(t, path)
	var versions, newest int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&versions, &newest); err != nil {
		t.Fatal(err)
	}
	if versions != 2 || newest != 2 {
		t.Fatalf("schema_migrations has %d rows up to version %d, want 2 rows, version 2", versions, newest)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v; want wal", mode, err)
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := openRaw(t, path).Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, path, store.Options{}); err == nil {
		t.Fatal("opened a database from a newer program")
	}
}

func TestCodesStoredOnlyAsSaltedHashes(t *testing.T) {
	e := newEnv(t, store.Options{})
	code := e.issue(t, email)
	var salt, hash []byte
	if err := openRaw(t, e.DBPath).QueryRow(`SELECT salt, hash FROM codes`).Scan(&salt, &hash); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append(append([]byte{}, salt...), code...))
	if len(salt) != 16 || string(hash) != string(want[:]) {
		t.Fatalf("salt %x hash %x; want a 16-byte salt and SHA-256(salt || code)", salt, hash)
	}
}

func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
