package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
)

// sharedData is proxy-wasm shared data: one store per Envoy process, visible to every worker's
// VM, with compare-and-swap versions.
type sharedData interface {
	get(key string) (value []byte, cas uint32, found bool, err error)
	set(key string, value []byte, cas uint32) (casMismatch bool, err error)
}

// Failures are kept in a fixed number of buckets, each a list of entries. Two reasons: a
// key that does not exist yet can only be written blindly (cas 0), so two workers creating
// the same key at once would lose a count, while buckets exist from plugin start and every
// later write is a real compare-and-swap; and shared data has no delete, so a key per
// username would let a client grow Envoy's memory without bound.
const (
	attemptBuckets   = 64
	bucketEntries    = 64 // per bucket; the oldest window is evicted when full
	entrySize        = 16 + 8 + 4
	casRetries       = 32
	attemptKeyPrefix = "passwordless_verify.attempts."
)

var errSharedData = errors.New("attack protection: shared data keeps changing under us")

// attempts counts failed verifications per key in a fixed window (SPEC 7).
type attempts struct {
	data   sharedData
	max    int
	window int64 // seconds
}

// attemptDigest names a (tenant, connection, username, IP) tuple. The parts are length
// prefixed, so different tuples never join to the same string, and hashed with SHA-256, so
// a client cannot pick a username that collides with someone else's entry.
func attemptDigest(tenantName, conn, username, ip string) [16]byte {
	h := sha256.New()
	for _, part := range [...]string{tenantName, conn, strings.ToLower(username), ip} {
		_, _ = io.WriteString(h, strconv.Itoa(len(part))+":")
		_, _ = io.WriteString(h, part)
	}
	var d [16]byte
	copy(d[:], h.Sum(nil))
	return d
}

func bucketKey(i int) string { return attemptKeyPrefix + strconv.Itoa(i) }

func bucketOf(d [16]byte) string {
	return bucketKey(int(binary.BigEndian.Uint32(d[:4]) % attemptBuckets))
}

// init creates the buckets that do not exist yet; existing ones (another worker's, or an
// earlier configuration's) keep their counts.
func (a *attempts) init() error {
	if a.max == 0 {
		return nil
	}
	for i := 0; i < attemptBuckets; i++ {
		key := bucketKey(i)
		_, _, found, err := a.data.get(key)
		if err != nil {
			return err
		}
		if found {
			continue
		}
		if _, err := a.data.set(key, []byte{}, 0); err != nil {
			return err
		}
	}
	return nil
}

// find returns the offset of d's entry in a bucket, or -1.
func find(bucket []byte, d [16]byte) int {
	for off := 0; off+entrySize <= len(bucket); off += entrySize {
		if bytes.Equal(bucket[off:off+16], d[:]) {
			return off
		}
	}
	return -1
}

func entryAt(bucket []byte, off int) (start int64, count uint32) {
	return int64(binary.BigEndian.Uint64(bucket[off+16:])), binary.BigEndian.Uint32(bucket[off+24:])
}

// blocked reports whether d has reached max failures inside its window.
func (a *attempts) blocked(d [16]byte, now int64) (bool, error) {
	if a.max == 0 {
		return false, nil
	}
	bucket, _, _, err := a.data.get(bucketOf(d))
	if err != nil {
		return false, err
	}
	off := find(bucket, d)
	if off < 0 {
		return false, nil
	}
	start, count := entryAt(bucket, off)
	return now < start+a.window && count >= uint32(a.max), nil
}

// fail counts one failed verification, starting a new window when the old one is over.
func (a *attempts) fail(d [16]byte, now int64) error {
	if a.max == 0 {
		return nil
	}
	return a.update(d, func(bucket []byte) []byte {
		start, count := now, uint32(0)
		if off := find(bucket, d); off >= 0 {
			if s, c := entryAt(bucket, off); now < s+a.window {
				start, count = s, c
			}
			bucket = append(bucket[:off:off], bucket[off+entrySize:]...)
		}
		bucket = a.evict(bucket, now)
		e := make([]byte, entrySize)
		copy(e, d[:])
		binary.BigEndian.PutUint64(e[16:], uint64(start))
		binary.BigEndian.PutUint32(e[24:], count+1)
		return append(bucket, e...)
	})
}

// evict makes room for one entry: expired entries go first, then the oldest window.
func (a *attempts) evict(bucket []byte, now int64) []byte {
	kept := bucket[:0:0]
	for off := 0; off+entrySize <= len(bucket); off += entrySize {
		if start, _ := entryAt(bucket, off); now < start+a.window {
			kept = append(kept, bucket[off:off+entrySize]...)
		}
	}
	for len(kept) >= bucketEntries*entrySize {
		oldest := 0
		first, _ := entryAt(kept, 0)
		for off := entrySize; off < len(kept); off += entrySize {
			if s, _ := entryAt(kept, off); s < first {
				oldest, first = off, s
			}
		}
		kept = append(kept[:oldest:oldest], kept[oldest+entrySize:]...)
	}
	return kept
}

// clear forgets d after a success.
func (a *attempts) clear(d [16]byte) error {
	if a.max == 0 {
		return nil
	}
	return a.update(d, func(bucket []byte) []byte {
		off := find(bucket, d)
		if off < 0 {
			return nil
		}
		return append(bucket[:off:off], bucket[off+entrySize:]...)
	})
}

// update applies fn to d's bucket with compare-and-swap, retrying when another worker wrote
// first, so no concurrent count is lost. fn returning nil means nothing to write.
func (a *attempts) update(d [16]byte, fn func([]byte) []byte) error {
	key := bucketOf(d)
	for i := 0; i < casRetries; i++ {
		bucket, cas, found, err := a.data.get(key)
		if err != nil {
			return err
		}
		if !found {
			// Only if the host lost the bucket made at plugin start; cas 0 recreates it.
			cas = 0
		}
		next := fn(bucket)
		if next == nil {
			return nil
		}
		mismatch, err := a.data.set(key, next, cas)
		if err != nil {
			return err
		}
		if !mismatch {
			return nil
		}
	}
	return errSharedData
}
