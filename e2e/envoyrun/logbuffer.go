package envoyrun

import (
	"bytes"
	"sync"
)

// LogBuffer collects Envoy's output (Options.Log) for a test to search: Envoy's stdout and
// stderr are copied by two goroutines, so writes must not race.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
