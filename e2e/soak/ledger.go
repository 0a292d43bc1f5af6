package soak

import "sync"

// SPEC 7's counts as the harness can know them. Each replica keeps its own counts (shared data
// is per Envoy process), per key (tenant, connection, username, client IP) and per client IP.
// The harness cannot see the moment a replica counts, only when it sent a request and when the
// answer came, so it keeps bounds: the count a request met lies between what had surely been
// counted when it was sent and what could have been counted by the time its answer came.
type ledgerKey struct {
	replica int
	ip      string
	user    string // "" is the IP's own count
}

type count struct {
	definite int // answered requests that counted
	possible int // definite, plus requests that may count: in flight, or left by their client
}

type ledger struct {
	mu sync.Mutex
	m  map[ledgerKey]*count
}

func newLedger() *ledger { return &ledger{m: map[ledgerKey]*count{}} }

// effect is what an answered request did to its counts.
type effect uint8

const (
	effectNone    effect = iota // not counted (refused before the store, or an attempt given back)
	effectCounted               // a failure, or an attempt whose outcome is unknown
	effectCleared               // a success: the key starts again; the IP's count keeps its failures
	effectUnknown               // no answer the harness can read: it may count, forever
)

// bounds is what one count could have been when a request met it.
type bounds struct{ lo, hi int }

func (l *ledger) get(k ledgerKey) *count {
	c := l.m[k]
	if c == nil {
		c = &count{}
		l.m[k] = c
	}
	return c
}

// begin is called just before a request that may count is sent; it returns the surely counted
// numbers of the key and of the IP.
func (l *ledger) begin(key ledgerKey) (keyLo, ipLo int) {
	ipKey := ledgerKey{replica: key.replica, ip: key.ip}
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ip := l.get(key), l.get(ipKey)
	keyLo, ipLo = k.definite, ip.definite
	k.possible++
	ip.possible++
	return keyLo, ipLo
}

// end is called once the answer is in (or the client gave up); it returns the highest counts
// the request could have met, not counting itself, and applies its effect.
func (l *ledger) end(key ledgerKey, e effect) (keyHi, ipHi int) {
	ipKey := ledgerKey{replica: key.replica, ip: key.ip}
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ip := l.get(key), l.get(ipKey)
	keyHi, ipHi = k.possible-1, ip.possible-1
	switch e {
	case effectNone:
		k.possible--
		ip.possible--
	case effectCounted:
		k.definite++
		ip.definite++
	case effectCleared:
		k.possible -= k.definite + 1
		k.definite = 0
		ip.possible--
	case effectUnknown:
	}
	return keyHi, ipHi
}
