package filter

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// A table counts attempts per key in shared data, in a fixed number of buckets of at most
// BucketEntries entries each, so no client can grow Envoy's memory: a table is at most
// tableBuckets × BucketEntries × entrySize bytes (512 KiB). 10,000 keys in one window put
// about 10 entries in a bucket; the odds that any bucket overflows are about 4 in a million,
// and even then eviction takes unblocked entries first.
//
// An entry is 16 bytes: the key's 64-bit keyed hash, the window start (unix seconds), the
// failures counted and the attempts in flight.
const (
	tableBuckets  = 1024
	BucketEntries = 32
	entrySize     = 16
	casRetries    = 32
)

var errSharedData = errors.New("attack protection: shared data keeps changing under us")

type table struct {
	data   SharedData
	prefix string
	max    uint32 // failures plus attempts in flight that block; 1–65535
	window uint32 // seconds
	// createCas is a CAS token no existing entry can hold (see sharedSecret): a set with it
	// creates a missing bucket but fails if another VM created that bucket meanwhile, where a
	// set with 0 would overwrite its counts.
	createCas uint32
	// Reused by every update: a VM runs one callback at a time, and hosts copy what is set.
	keys    [tableBuckets]string
	entries []entry
	buf     []byte
}

type entry struct {
	tag      uint64
	start    uint32
	failures uint16
	inflight uint16
}

// slot names what take reserved: the entry and the window it was taken in.
type slot struct {
	tag   uint64
	start uint32
}

// bucketOf places a key. The tag is a keyed hash, so no client can aim at a bucket.
func bucketOf(tag uint64) int { return int(tag % tableBuckets) }

// bucketKey is made once per bucket and VM.
func (t *table) bucketKey(tag uint64) string {
	b := bucketOf(tag)
	if t.keys[b] == "" {
		t.keys[b] = t.prefix + strconv.Itoa(b)
	}
	return t.keys[b]
}

// decode appends a bucket's entries to es.
func decode(es []entry, b []byte) []entry {
	if len(b)%entrySize != 0 {
		return es // not ours (another layout): start the bucket again
	}
	for off := 0; off < len(b); off += entrySize {
		e := b[off : off+entrySize]
		es = append(es, entry{
			tag:      binary.LittleEndian.Uint64(e),
			start:    binary.LittleEndian.Uint32(e[8:]),
			failures: binary.LittleEndian.Uint16(e[12:]),
			inflight: binary.LittleEndian.Uint16(e[14:]),
		})
	}
	return es
}

// encode appends the bucket of es to b.
func encode(b []byte, es []entry) []byte {
	b = append(b, make([]byte, len(es)*entrySize)...)
	for i, e := range es {
		o := b[i*entrySize:]
		binary.LittleEndian.PutUint64(o, e.tag)
		binary.LittleEndian.PutUint32(o[8:], e.start)
		binary.LittleEndian.PutUint16(o[12:], e.failures)
		binary.LittleEndian.PutUint16(o[14:], e.inflight)
	}
	return b
}

func indexOf(es []entry, tag uint64) int {
	for i := range es {
		if es[i].tag == tag {
			return i
		}
	}
	return -1
}

func (t *table) expired(e entry, now uint32) bool {
	return uint64(now) >= uint64(e.start)+uint64(t.window)
}

func (t *table) blocked(e entry) bool {
	return uint32(e.failures)+uint32(e.inflight) >= t.max
}

// take reserves one attempt for tag, unless failures plus attempts in flight already reach
// max in the current window: then blocked, and nothing is written.
func (t *table) take(tag uint64, now uint32) (s slot, blocked bool, err error) {
	err = t.update(t.bucketKey(tag), func(es []entry) ([]entry, bool) {
		n := indexOf(es, tag)
		if n >= 0 && t.expired(es[n], now) {
			es[n] = entry{tag: tag, start: now}
		}
		if n < 0 {
			es = t.makeRoom(es, now)
			n = len(es)
			es = append(es, entry{tag: tag, start: now})
		}
		if blocked = t.blocked(es[n]); blocked {
			return nil, false
		}
		es[n].inflight++ // < max ≤ 65535
		s = slot{tag: tag, start: es[n].start}
		return es, true
	})
	return s, blocked, err
}

// settle ends an attempt: it is no longer in flight, a failure is counted, and clear forgets
// the failures. An attempt whose window is over, or whose entry was evicted, went with them.
func (t *table) settle(s slot, failed, clear bool) error {
	return t.update(t.bucketKey(s.tag), func(es []entry) ([]entry, bool) {
		n := indexOf(es, s.tag)
		if n < 0 || es[n].start != s.start {
			return nil, false
		}
		e := &es[n]
		if e.inflight > 0 {
			e.inflight--
		}
		if failed && uint32(e.failures) < t.max {
			e.failures++
		}
		if clear {
			e.failures = 0
		}
		if e.failures == 0 && e.inflight == 0 {
			es = append(es[:n], es[n+1:]...)
		}
		return es, true
	})
}

// makeRoom frees one place in a full bucket. Expired entries go first, then the unblocked
// entry with the fewest attempts (the oldest of those), and a blocked entry only when the
// bucket holds nothing else: then the one whose window ends first.
func (t *table) makeRoom(es []entry, now uint32) []entry {
	kept := es[:0]
	for _, e := range es {
		if !t.expired(e, now) {
			kept = append(kept, e)
		}
	}
	if len(kept) < BucketEntries {
		return kept
	}
	victim := 0
	for i := 1; i < len(kept); i++ {
		if t.evictsBefore(kept[i], kept[victim]) {
			victim = i
		}
	}
	return append(kept[:victim], kept[victim+1:]...)
}

func (t *table) evictsBefore(a, b entry) bool {
	if ab, bb := t.blocked(a), t.blocked(b); ab != bb {
		return !ab
	}
	if !t.blocked(a) {
		if ca, cb := uint32(a.failures)+uint32(a.inflight), uint32(b.failures)+uint32(b.inflight); ca != cb {
			return ca < cb
		}
	}
	return a.start < b.start
}

// update applies fn to a bucket with compare-and-swap, retrying when another worker wrote
// first, so no concurrent count is lost. fn returns the new entries and whether to write them.
func (t *table) update(key string, fn func([]entry) ([]entry, bool)) error {
	for range casRetries {
		b, cas, found, err := t.data.Get(key)
		if err != nil {
			return err
		}
		if !found {
			cas = t.createCas
		}
		t.entries = decode(t.entries[:0], b)
		next, write := fn(t.entries)
		if !write {
			return nil
		}
		t.entries, t.buf = next, encode(t.buf[:0], next)
		mismatch, err := t.data.Set(key, t.buf, cas)
		if err != nil {
			return err
		}
		if !mismatch {
			return nil
		}
	}
	return errSharedData
}
