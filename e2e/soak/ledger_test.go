package soak

import "testing"

// TestLedgerBounds: a count's bounds hold what was surely counted when a request left and
// what may have been counted by its answer, with other requests of the address in flight.
func TestLedgerBounds(t *testing.T) {
	l := newLedger()
	alice := ledgerKey{replica: 0, ip: "127.0.0.10", user: "alice"}
	bob := ledgerKey{replica: 0, ip: "127.0.0.10", user: "bob"}
	other := ledgerKey{replica: 1, ip: "127.0.0.10", user: "alice"}

	for range 3 {
		l.begin(alice)
		l.end(alice, effectCounted)
	}
	keyLo, ipLo := l.begin(alice)
	if keyLo != 3 || ipLo != 3 {
		t.Fatalf("lo %d %d, want 3 3", keyLo, ipLo)
	}
	l.begin(bob) // in flight while alice's answer comes
	keyHi, ipHi := l.end(alice, effectNone)
	if keyHi != 3 || ipHi != 4 {
		t.Fatalf("hi %d %d, want 3 and 4 (bob in flight)", keyHi, ipHi)
	}
	l.end(bob, effectUnknown) // bob's client left: it may count, forever
	if _, ipLo := l.begin(alice); ipLo != 3 {
		t.Fatalf("an unknown outcome counted surely: %d", ipLo)
	}
	keyHi, ipHi = l.end(alice, effectCleared)
	if keyHi != 3 || ipHi != 4 {
		t.Fatalf("hi %d %d", keyHi, ipHi)
	}
	keyLo, ipLo = l.begin(alice)
	if keyLo != 0 || ipLo != 3 {
		t.Fatalf("after a success: key %d (want 0), address %d (want 3: a success does not clear it)", keyLo, ipLo)
	}
	if keyLo, ipLo := l.begin(other); keyLo != 0 || ipLo != 0 {
		t.Fatalf("another replica shares counts: %d %d", keyLo, ipLo)
	}
}

func TestOutcomeEffects(t *testing.T) {
	for o, want := range map[outcome]effect{
		outVerified: effectCleared, outWrongCode: effectCounted, outServerError: effectCounted,
		outKeyBlocked: effectNone, outIPBlocked: effectNone, outUserBlocked: effectNone, outDenied: effectNone,
		outOther: effectUnknown,
	} {
		if got := o.effect(); got != want {
			t.Errorf("%s: effect %d, want %d", outcomeNames[o], got, want)
		}
	}
}
