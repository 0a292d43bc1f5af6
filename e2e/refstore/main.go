// Command refstore runs the reference user store: the verify endpoint the filter calls,
// plus an admin surface (users, issuing codes) for local development only.
//
//	go run ./e2e/refstore -db /tmp/store.db -addr 127.0.0.1:8081 -outbox /tmp/outbox.jsonl
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

func main() {
	dbPath := flag.String("db", "", "SQLite database file (created if missing)")
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	codeTTL := flag.Duration("code-ttl", store.DefaultCodeTTL, "lifetime of an issued one-time code")
	outbox := flag.String("outbox", "", "file that receives issued codes as JSON lines (default: the log)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *dbPath, *addr, *codeTTL, *outbox); err != nil {
		log.Error("user store stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, dbPath, addr string, codeTTL time.Duration, outbox string) error {
	if dbPath == "" {
		return errors.New("-db is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	st, err := store.Open(ctx, dbPath, store.Options{CodeTTL: codeTTL, Outbox: outbox, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()

	srv := &http.Server{
		Addr:              addr,
		Handler:           st.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("user store listening; /admin and /passwordless/start are for local development only",
		"addr", addr, "db", dbPath, "code_ttl", codeTTL, "outbox", outbox)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
