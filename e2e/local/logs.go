package local

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// lockedWriter serialises whole lines from the stack's loggers and the VMs onto one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pluginLogger prints the plugin's log lines the way Envoy does, with their proxy-wasm level
// (critical included) and the worker that logged them.
func pluginLogger(w io.Writer, worker int) func(wasmhost.LogLevel, string) {
	return func(level wasmhost.LogLevel, msg string) {
		_, _ = fmt.Fprintf(w, "[%s][wasm][worker %d][%s] %s\n",
			time.Now().Format("2006-01-02 15:04:05.000"), worker, level, msg)
	}
}

// prepareDataDir creates dir private to this user, and refuses one that others can read:
// it holds the outbox, and so live one-time codes.
func prepareDataDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("data dir: required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Lstat(filepath.Clean(dir))
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data dir %s: must be a directory only its owner can use (mode 0700), not %v", dir, fi.Mode())
	}
	return nil
}
