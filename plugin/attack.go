package main

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// sharedData is proxy-wasm shared data: one store per Envoy process, visible to every worker's
// VM, with compare-and-swap versions.
type sharedData interface {
	get(key string) (value []byte, cas uint32, found bool, err error)
	set(key string, value []byte, cas uint32) (casMismatch bool, err error)
}

// casRetries bounds the compare-and-swap loop; losing that many races in a row means the
// host is misbehaving, and the filter then fails closed.
const casRetries = 16

var errSharedData = errors.New("attack protection: shared data unavailable")

// attempts counts failed verifications per key in a fixed window (SPEC 7).
type attempts struct {
	data   sharedData
	max    int
	window int64 // seconds
}

// attemptKey length-prefixes each part: a username is client input, so with a plain
// separator two different tuples could make the same key.
func attemptKey(tenantName, conn, username, ip string) string {
	var b strings.Builder
	b.WriteString("passwordless_verify.attempts")
	for _, part := range [...]string{tenantName, conn, strings.ToLower(username), ip} {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return b.String()
}

// record is window start (unix seconds) then count, both big-endian.
func decodeRecord(v []byte) (start int64, count uint32) {
	if len(v) != 12 {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(v)), binary.BigEndian.Uint32(v[8:])
}

func encodeRecord(start int64, count uint32) []byte {
	v := make([]byte, 12)
	binary.BigEndian.PutUint64(v, uint64(start))
	binary.BigEndian.PutUint32(v[8:], count)
	return v
}

// blocked reports whether the key has reached max failures inside its window.
func (a *attempts) blocked(key string, now int64) (bool, error) {
	if a.max == 0 {
		return false, nil
	}
	v, _, found, err := a.data.get(key)
	if err != nil {
		return false, err
	}
	if !found {
		return false, nil
	}
	start, count := decodeRecord(v)
	return now < start+a.window && count >= uint32(a.max), nil
}

// fail counts one failed verification, starting a new window when the old one is over.
func (a *attempts) fail(key string, now int64) error {
	if a.max == 0 {
		return nil
	}
	return a.update(key, func(v []byte) []byte {
		start, count := decodeRecord(v)
		if now >= start+a.window {
			start, count = now, 0
		}
		return encodeRecord(start, count+1)
	})
}

// clear forgets the key after a success. Shared data has no delete, so the record is emptied.
func (a *attempts) clear(key string) error {
	if a.max == 0 {
		return nil
	}
	return a.update(key, func(v []byte) []byte {
		if len(v) == 0 {
			return nil
		}
		return []byte{}
	})
}

// update applies fn with compare-and-swap, retrying when another worker wrote first, so no
// concurrent count is lost. fn returning nil means nothing to write.
func (a *attempts) update(key string, fn func([]byte) []byte) error {
	for i := 0; i < casRetries; i++ {
		v, cas, _, err := a.data.get(key)
		if err != nil {
			return err
		}
		next := fn(v)
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
