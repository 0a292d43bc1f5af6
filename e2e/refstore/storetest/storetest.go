// Package storetest runs the reference user store in-process for tests: a fresh SQLite file
// in the test's temporary directory, served over loopback HTTP.
package storetest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

// Server is a running store; URL + storewire.DefaultPath is its verify endpoint.
type Server struct {
	*httptest.Server
	Store  *store.Store
	DBPath string
}

// Start opens a store with opts (logs discarded unless opts.Logger is set) and serves it
// until the test ends.
func Start(tb testing.TB, opts store.Options) *Server {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(tb.TempDir(), "store.db")
	st, err := store.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("open user store: %v", err)
	}
	srv := httptest.NewServer(st.Handler())
	tb.Cleanup(func() {
		srv.Close()
		if err := st.Close(); err != nil {
			tb.Errorf("close user store: %v", err)
		}
	})
	return &Server{Server: srv, Store: st, DBPath: path}
}

// Clock is a settable clock for Options.Now, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
