package filter

import (
	"encoding/binary"
	"math/bits"
)

// sipHash is SipHash-2-4 (Aumasson and Bernstein), a keyed hash built for short inputs: without
// the key nobody can find inputs that collide, yet it costs a few rounds per 8 bytes. SHA-256
// would also do, at several times the cost; hash/maphash cannot, because its seed cannot be
// shared between VMs, which are separate Go runtimes.
type sipHash struct {
	v0, v1, v2, v3 uint64
	tail           uint64 // bytes not yet in a block, little-endian
	ntail          uint   // how many
	length         uint64 // bytes written in all
}

func newSipHash(key *[16]byte) sipHash {
	k0, k1 := le64(key[:8]), le64(key[8:])
	return sipHash{
		v0: k0 ^ 0x736f6d6570736575,
		v1: k1 ^ 0x646f72616e646f6d,
		v2: k0 ^ 0x6c7967656e657261,
		v3: k1 ^ 0x7465646279746573,
	}
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func (s *sipHash) round() {
	s.v0 += s.v1
	s.v1 = bits.RotateLeft64(s.v1, 13) ^ s.v0
	s.v0 = bits.RotateLeft64(s.v0, 32)
	s.v2 += s.v3
	s.v3 = bits.RotateLeft64(s.v3, 16) ^ s.v2
	s.v0 += s.v3
	s.v3 = bits.RotateLeft64(s.v3, 21) ^ s.v0
	s.v2 += s.v1
	s.v1 = bits.RotateLeft64(s.v1, 17) ^ s.v2
	s.v2 = bits.RotateLeft64(s.v2, 32)
}

func (s *sipHash) block(m uint64) {
	s.v3 ^= m
	s.round()
	s.round()
	s.v0 ^= m
}

func (s *sipHash) writeByte(b byte) {
	s.tail |= uint64(b) << (8 * s.ntail)
	s.ntail++
	s.length++
	if s.ntail == 8 {
		s.block(s.tail)
		s.tail, s.ntail = 0, 0
	}
}

// writeString completes a started block from p, hashes whole blocks straight from p, and keeps
// the rest: one call per part, not one per byte, which matters in a wasm VM.
func (s *sipHash) writeString(p string) {
	s.length += uint64(len(p))
	for s.ntail > 0 && len(p) > 0 {
		s.tail |= uint64(p[0]) << (8 * s.ntail)
		s.ntail++
		p = p[1:]
		if s.ntail == 8 {
			s.block(s.tail)
			s.tail, s.ntail = 0, 0
		}
	}
	for len(p) >= 8 {
		s.block(uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
			uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56)
		p = p[8:]
	}
	for i := 0; i < len(p); i++ {
		s.tail |= uint64(p[i]) << (8 * s.ntail)
		s.ntail++
	}
}

// writePart writes p with its length in front, so that different lists of parts never hash
// the same bytes ("ab","c" and "a","bc").
func (s *sipHash) writePart(p string) {
	var prefix [4]byte
	binary.LittleEndian.PutUint32(prefix[:], uint32(len(p))) //nolint:gosec // G115: the parts are header values and body fields, far below 4 GiB
	s.writeString(string(prefix[:]))
	s.writeString(p)
}

func (s *sipHash) sum64() uint64 {
	s.block(s.tail | s.length<<56)
	s.v2 ^= 0xff
	s.round()
	s.round()
	s.round()
	s.round()
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3
}
