package filter

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// hostData is the plain-Go tests' shared data: wasmhost's, which has Envoy's semantics (a set
// with CAS 0 overwrites, any CAS creates a missing entry, tokens from one counter).
// beforeSet, when set, runs once before the next set: another VM's turn in a race.
type hostData struct {
	d         *wasmhost.SharedData
	beforeSet func()
}

func newHostData() *hostData { return &hostData{d: wasmhost.NewSharedData()} }

func (h *hostData) Get(key string) ([]byte, uint32, bool, error) {
	v, cas, ok := h.d.Get("", key)
	return v, cas, ok, nil
}

func (h *hostData) Set(key string, value []byte, cas uint32) (bool, error) {
	if f := h.beforeSet; f != nil {
		h.beforeSet = nil
		f()
	}
	err := h.d.Set("", key, value, cas)
	if errors.Is(err, wasmhost.ErrCasMismatch) {
		return true, nil
	}
	return false, err
}

func TestSipHashVectors(t *testing.T) {
	// The reference vectors of the SipHash paper: key 00..0f, message 00..n-1.
	want := []uint64{
		0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
		0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
		0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
		0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
		0x3f2acc7f57c29bdb,
	}
	var key [16]byte
	msg := make([]byte, len(want))
	for i := range key {
		key[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, w := range want {
		whole := newSipHash(&key)
		whole.writeString(string(msg[:n]))
		split := newSipHash(&key) // byte by byte, then in blocks again
		for _, b := range msg[:n%3] {
			split.writeByte(b)
		}
		split.writeString(string(msg[n%3 : n]))
		if got, got2 := whole.sum64(), split.sum64(); got != w || got2 != w {
			t.Errorf("n=%d: %#x and %#x, want %#x", n, got, got2, w)
		}
	}
}

// testTable is a table with a 60-second window.
func testTable(d SharedData, max uint32) *table {
	return &table{data: d, prefix: "t.", max: max, window: 60, createCas: 1 << 31}
}

// tagIn returns the n-th tag that lands in bucket b.
func tagIn(b, n int) uint64 { return uint64(n)*tableBuckets + uint64(b) }

func mustTake(t *testing.T, tb *table, tag uint64, now uint32, wantBlocked bool) slot {
	t.Helper()
	s, blocked, err := tb.take(tag, now)
	if err != nil || blocked != wantBlocked {
		t.Fatalf("take %#x at %d: blocked %v, %v; want blocked %v", tag, now, blocked, err, wantBlocked)
	}
	return s
}

func failN(t *testing.T, tb *table, tag uint64, now uint32, n int) {
	t.Helper()
	for range n {
		if err := tb.settle(mustTake(t, tb, tag, now, false), true, false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTableWindow(t *testing.T) {
	tb := testTable(newHostData(), 3)
	old := mustTake(t, tb, 7, 100, false)
	failN(t, tb, 7, 100, 2)
	mustTake(t, tb, 7, 159, true)
	// The window is over: a new one starts, and the attempt taken in the old one is gone.
	s := mustTake(t, tb, 7, 160, false)
	if err := tb.settle(old, true, false); err != nil {
		t.Fatal(err)
	}
	mustTake(t, tb, 7, 160, false)
	mustTake(t, tb, 7, 160, false)
	mustTake(t, tb, 7, 160, true) // s and the two above are in flight
	for _, c := range []struct{ failed, clear bool }{{false, false}, {true, true}} {
		if err := tb.settle(s, c.failed, c.clear); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTableBounded(t *testing.T) {
	d := newHostData()
	tb := testTable(d, 3)
	for i := range 20000 {
		failN(t, tb, uint64(i)*0x9e3779b97f4a7c15, 100, 1)
	}
	total, keys := 0, d.d.Keys("")
	for _, k := range keys {
		v, _, _ := d.d.Get("", k)
		total += len(v)
	}
	if limit := tableBuckets * BucketEntries * entrySize; total > limit || len(keys) > tableBuckets {
		t.Errorf("%d bytes in %d keys, limit %d bytes in %d keys", total, len(keys), limit, tableBuckets)
	}
}

// TestTableBlockedSurvivesBlockedFlood: 10,000 other keys all reach the limit in the window,
// and the victim is still blocked: they fit the table.
func TestTableBlockedSurvivesBlockedFlood(t *testing.T) {
	g := &attackGuard{}
	if _, err := rand.Read(g.secret[:]); err != nil {
		t.Fatal(err)
	}
	tb := testTable(newHostData(), 3)
	victim := g.keyTag("acme", "email", "victim", "10.0.0.1")
	failN(t, tb, victim, 100, 3)
	for i := range 10000 {
		failN(t, tb, g.keyTag("acme", "email", fmt.Sprint("u", i), "10.0.0.2"), 100, 3)
	}
	mustTake(t, tb, victim, 159, true)
}

func TestTableEviction(t *testing.T) {
	tb := testTable(newHostData(), 2)
	victim := tagIn(5, 0)
	failN(t, tb, victim, 100, 2)
	// A full bucket of unblocked entries, then many more: the blocked one stays.
	for n := 1; n < 4*BucketEntries; n++ {
		failN(t, tb, tagIn(5, n), 100, 1)
	}
	mustTake(t, tb, victim, 100, true)
	// Blocked entries go only when nothing else is left, the one whose window ends first.
	tb2 := testTable(newHostData(), 1)
	for n := range BucketEntries {
		failN(t, tb2, tagIn(9, n), 100+uint32(n), 1)
	}
	failN(t, tb2, tagIn(9, BucketEntries), 140, 1)
	mustTake(t, tb2, tagIn(9, 0), 140, false)  // evicted: the earliest window
	mustTake(t, tb2, tagIn(9, 2), 140, true)   // kept
	mustTake(t, tb2, tagIn(9, 1), 161, false)  // its window is over
	mustTake(t, tb2, tagIn(9, 20), 150, true)  // still blocked
	mustTake(t, tb2, tagIn(9, 40), 150, false) // never seen
}

// raceSecret: VM A reads no secret; before A stores its own, VM B stores one. A must end
// with B's, and so must a VM that starts later.
func raceSecret(t *testing.T) {
	d := newHostData()
	var b [SecretSize]byte
	var errB error
	sets := 0
	a, _, err := sharedSecret(&raceData{hostData: d, turn: func() {
		if sets++; sets == 2 { // A's first set is the fence, its second the secret
			b, _, errB = sharedSecret(&hostData{d: d.d}, rand.Reader)
		}
	}}, rand.Reader)
	if err != nil || errB != nil || a != b || a == [SecretSize]byte{} {
		t.Fatalf("A %x, B %x: %v %v", a, b, err, errB)
	}
	if late, _, err := sharedSecret(d, rand.Reader); err != nil || late != b {
		t.Fatalf("a later VM got %x: %v", late, err)
	}
}

// raceData runs turn before every set.
type raceData struct {
	*hostData
	turn func()
}

func (r *raceData) Set(key string, value []byte, cas uint32) (bool, error) {
	r.turn()
	return r.hostData.Set(key, value, cas)
}

// raceBucket: A and B take an attempt for one key in a bucket that does not exist yet, B
// between A's read and A's write. Both count.
func raceBucket(t *testing.T) {
	d := newHostData()
	_, createCas, err := sharedSecret(d, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &table{data: d, prefix: "t.", max: 2, window: 60, createCas: createCas}
	b := &table{data: &hostData{d: d.d}, prefix: "t.", max: 2, window: 60, createCas: createCas}
	d.beforeSet = func() { mustTake(t, b, 42, 100, false) }
	mustTake(t, a, 42, 100, false)
	mustTake(t, b, 42, 100, true)
}

// TestRace: two VMs race on the secret and on one key, forced step by step on the shared data
// layer (the plugin's tests race real VMs on wasm).
func TestRace(t *testing.T) {
	raceSecret(t)
	raceBucket(t)
}

// BenchmarkAttackCheck is one attack-protection check as a request makes it: take an attempt
// for the address and the key, then give both back. Shared data is wasmhost's in-process
// store, so the number is the filter's cost without the host call overhead.
func BenchmarkAttackCheck(b *testing.B) {
	cfg := &config{maxAttempts: 10, windowSeconds: 900, ipMaxFailures: 100, ipWindowSeconds: 3600}
	g, err := newAttackGuard(newHostData(), cfg, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	p := &verifyParams{connection: "email", username: "someone@example.com"}
	b.ReportAllocs()
	for b.Loop() {
		a, aerr := g.admit("acme", p, "203.0.113.7", 1000)
		if aerr != nil {
			b.Fatal(aerr.description())
		}
		if err := g.settle(a, verdictGivenBack); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSipHashParts: hashing parts (a tag byte, then length-prefixed parts) is hashing their
// bytes in one string, at every alignment of the parts to the 8-byte blocks.
func TestSipHashParts(t *testing.T) {
	var key [16]byte
	key[3] = 7
	for _, parts := range [][]string{{""}, {"a"}, {"acme", "email", "a@example.com", "203.0.113.7"}, {"0123456789abcdef0", "x"}} {
		for pre := range 9 {
			h := newSipHash(&key)
			var whole []byte
			for i := range pre {
				h.writeByte(byte(i))
				whole = append(whole, byte(i))
			}
			for _, p := range parts {
				h.writePart(p)
				n := len(p)
				whole = append(whole, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
				whole = append(whole, p...)
			}
			ref := newSipHash(&key)
			for _, b := range whole {
				ref.writeByte(b)
			}
			if got, want := h.sum64(), ref.sum64(); got != want {
				t.Errorf("parts %q after %d bytes: %#x, want %#x", parts, pre, got, want)
			}
		}
	}
}
