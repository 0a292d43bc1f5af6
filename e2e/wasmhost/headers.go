package wasmhost

import (
	"encoding/binary"
	"strings"
)

// Limits proxy-wasm-cpp-host puts on a serialized pairs buffer coming from the guest; anything
// larger or malformed is read as an empty map rather than an error, exactly like Envoy.
const (
	maxPairsBytes = 1 << 20
	maxPairsCount = 1024
)

// encodePairs serializes a header map the way the ABI hands maps to the guest:
// u32 count, (u32 keylen, u32 vallen) per pair, then "key\0value\0" per pair.
func encodePairs(pairs [][2]string) []byte {
	size := 4
	for _, p := range pairs {
		size += 8 + len(p[0]) + len(p[1]) + 2
	}
	b := make([]byte, 4, size)
	binary.LittleEndian.PutUint32(b, size32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, size32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, size32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(b, p[0]...)
		b = append(b, 0)
		b = append(b, p[1]...)
		b = append(b, 0)
	}
	return b
}

// decodePairs parses a guest-serialized map. Like PairsUtil::toPairs it rejects (ok=false)
// anything that is not exactly well formed: wrong count, missing NULs, trailing bytes.
func decodePairs(b []byte) (pairs [][2]string, ok bool) {
	if len(b) > maxPairsBytes || len(b) < 4 {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxPairsCount || uint64(len(b)) < 4+uint64(n)*8 {
		return nil, false
	}
	pos := 4 + int(n)*8
	pairs = make([][2]string, n)
	for i := range pairs {
		kl := int(binary.LittleEndian.Uint32(b[4+i*8:]))
		vl := int(binary.LittleEndian.Uint32(b[8+i*8:]))
		if kl > len(b) || vl > len(b) || pos+kl+1 > len(b) || b[pos+kl] != 0 {
			return nil, false
		}
		k := string(b[pos : pos+kl])
		pos += kl + 1
		if pos+vl+1 > len(b) || b[pos+vl] != 0 {
			return nil, false
		}
		pairs[i] = [2]string{k, string(b[pos : pos+vl])}
		pos += vl + 1
	}
	if pos != len(b) {
		return nil, false
	}
	return pairs, true
}

// headerMap is an ordered multi-map with lower-cased keys, the subset of Envoy's HeaderMapImpl
// the ABI can observe. Envoy lower-cases every key that comes through the ABI.
type headerMap struct{ kv [][2]string }

func newHeaderMap(pairs [][2]string) *headerMap {
	h := &headerMap{kv: make([][2]string, 0, len(pairs))}
	for _, p := range pairs {
		h.add(p[0], p[1])
	}
	return h
}

// get returns the first value only: Envoy's getHeaderMapValue does the same (a known ABI
// limitation for repeated headers).
func (h *headerMap) get(key string) (string, bool) {
	key = strings.ToLower(key)
	for _, p := range h.kv {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

func (h *headerMap) add(key, value string) {
	h.kv = append(h.kv, [2]string{strings.ToLower(key), value})
}

// replace follows Envoy's setCopy (with http_set_copy_replace_all_headers, the default):
// every existing entry goes and the new one is appended.
func (h *headerMap) replace(key, value string) {
	h.remove(key)
	h.add(key, value)
}

func (h *headerMap) remove(key string) {
	key = strings.ToLower(key)
	kept := h.kv[:0]
	for _, p := range h.kv {
		if p[0] != key {
			kept = append(kept, p)
		}
	}
	h.kv = kept
}

func (h *headerMap) setAll(pairs [][2]string) {
	h.kv = h.kv[:0]
	for _, p := range pairs {
		h.add(p[0], p[1])
	}
}

func (h *headerMap) pairs() [][2]string {
	if h == nil {
		return nil
	}
	return append([][2]string(nil), h.kv...)
}

func (h *headerMap) byteSize() int {
	n := 0
	for _, p := range h.kv {
		n += len(p[0]) + len(p[1])
	}
	return n
}

func (h *headerMap) len() int {
	if h == nil {
		return 0
	}
	return len(h.kv)
}

func lowerPairs(pairs [][2]string) [][2]string {
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		out[i] = [2]string{strings.ToLower(p[0]), p[1]}
	}
	return out
}

func firstValue(pairs [][2]string, key string) (string, bool) {
	for _, p := range pairs {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}
