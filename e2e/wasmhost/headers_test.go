package wasmhost

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

func TestPairsRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{
		nil,
		{{":path", "/"}},
		{{"a", ""}, {"", "b"}, {"x-dup", "1"}, {"x-dup", "2"}, {"bin", "\x01\xff"}},
	} {
		b := encodePairs(pairs)
		got, ok := decodePairs(b)
		if !ok || len(got) != len(pairs) || (len(pairs) > 0 && !reflect.DeepEqual(got, pairs)) {
			t.Errorf("round trip of %q: %q %v", pairs, got, ok)
		}
	}
	// The wire layout: count, sizes, then NUL-terminated keys and values.
	want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 'k', 0, 'v', 'w', 0}
	if b := encodePairs([][2]string{{"k", "vw"}}); !bytes.Equal(b, want) {
		t.Errorf("encoding % x, want % x", b, want)
	}
}

func TestPairsRejectsMalformed(t *testing.T) {
	good := encodePairs([][2]string{{"key", "value"}})
	huge := binary.LittleEndian.AppendUint32(nil, 5000)
	for name, b := range map[string][]byte{
		"empty":           {},
		"short count":     {1, 0},
		"trailing byte":   append(append([]byte(nil), good...), 0),
		"missing NUL":     append(append([]byte(nil), good[:len(good)-1]...), 'x'),
		"truncated":       good[:len(good)-3],
		"count too large": huge,
		"size overflow":   {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0},
	} {
		if p, ok := decodePairs(b); ok {
			t.Errorf("%s: accepted as %q", name, p)
		}
	}
}

func TestHeaderMapSemantics(t *testing.T) {
	h := newHeaderMap([][2]string{{"X-A", "1"}, {"x-b", "2"}, {"x-a", "3"}})
	if v, ok := h.get("x-A"); !ok || v != "1" {
		t.Errorf("get returns the first value, case-insensitively: %q %v", v, ok)
	}
	h.replace("X-A", "9")
	if want := [][2]string{{"x-b", "2"}, {"x-a", "9"}}; !reflect.DeepEqual(h.pairs(), want) {
		t.Errorf("replace (Envoy setCopy) = %q, want %q", h.pairs(), want)
	}
	h.add("x-b", "4")
	h.remove("X-B")
	if want := [][2]string{{"x-a", "9"}}; !reflect.DeepEqual(h.pairs(), want) {
		t.Errorf("remove = %q", h.pairs())
	}
	if h.byteSize() != 4 {
		t.Errorf("byteSize %d", h.byteSize())
	}
}
