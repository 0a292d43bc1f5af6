package wasmhost

import (
	"errors"
	"sort"
	"sync"
)

// ErrCasMismatch is returned by SharedData.Set when the entry changed since it was read.
var ErrCasMismatch = errors.New("wasmhost: shared data CAS mismatch")

// SharedData is proxy-wasm shared data: one store per Envoy process, partitioned by vm_id, and
// shared by every VM (one per worker thread) of that vm_id. Safe for concurrent use.
type SharedData struct {
	mu   sync.Mutex
	cas  uint32
	data map[string]map[string]sharedEntry
}

type sharedEntry struct {
	value []byte
	cas   uint32
}

// NewSharedData returns an empty store. Give the same one to several VMs to model workers.
func NewSharedData() *SharedData {
	return &SharedData{cas: 1, data: map[string]map[string]sharedEntry{}}
}

// nextCas mirrors cpp-host: a process-wide counter that skips 0, since 0 means "no CAS".
func (d *SharedData) nextCas() uint32 {
	c := d.cas
	d.cas++
	if d.cas == 0 {
		d.cas++
	}
	return c
}

// Get returns a copy of the value and its CAS token.
func (d *SharedData) Get(vmID, key string) (value []byte, cas uint32, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.data[vmID][key]
	if !ok {
		return nil, 0, false
	}
	return append([]byte(nil), e.value...), e.cas, true
}

// Set stores value. cas 0 writes unconditionally; otherwise the write only happens if the
// entry's current CAS equals cas (a missing entry accepts any cas, as in cpp-host).
func (d *SharedData) Set(vmID, key string, value []byte, cas uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.data[vmID]
	if m == nil {
		m = map[string]sharedEntry{}
		d.data[vmID] = m
	}
	if e, ok := m[key]; ok && cas != 0 && cas != e.cas {
		return ErrCasMismatch
	}
	m[key] = sharedEntry{value: append([]byte(nil), value...), cas: d.nextCas()}
	return nil
}

// Keys lists the keys stored for vmID, sorted.
func (d *SharedData) Keys(vmID string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys := make([]string, 0, len(d.data[vmID]))
	for k := range d.data[vmID] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
