package filter

import (
	"errors"
	"io"
	"math"
	"strings"
	"time"
)

// Attack protection (SPEC 7) keeps two tables in shared data: attempts per (tenant,
// connection, lower-cased username, client IP), and failures per client IP. Both take an
// attempt before the user store call and settle it when the answer comes, so requests in
// flight count and a burst cannot get past the limit.
const (
	sharedPrefix    = "passwordless_verify.attack."
	SecretKey       = sharedPrefix + "secret"
	fenceKey        = sharedPrefix + "fence"
	keyTablePrefix  = sharedPrefix + "key."
	ipTablePrefix   = sharedPrefix + "ip."
	SecretSize      = 16
	maxAttemptLimit = math.MaxUint16 // counts are 16-bit in a table entry
)

var errNoFence = errors.New("attack protection: shared data lost the entry just written")

// sharedSecret returns the key of the placement hash, the same for every VM of the process:
// the first VM to store one wins, and the others read it. It also returns a CAS token that
// matches no existing entry. Shared data has no "create if absent": a set with CAS 0 always
// overwrites, and a set with any other CAS creates a missing entry. Envoy hands out CAS
// tokens from one counter for every write in the process, so the token of our own write to
// the fence entry is held by no other entry, and a set with it creates a missing entry but
// fails on one that another VM created meanwhile.
func sharedSecret(d SharedData, random io.Reader) (secret [SecretSize]byte, createCas uint32, err error) {
	if _, err := d.Set(fenceKey, []byte{1}, 0); err != nil {
		return secret, 0, err
	}
	_, createCas, found, err := d.Get(fenceKey)
	if err != nil {
		return secret, 0, err
	}
	if !found {
		return secret, 0, errNoFence
	}
	for range casRetries {
		v, cas, found, err := d.Get(SecretKey)
		if err != nil {
			return secret, 0, err
		}
		if found && len(v) == SecretSize {
			copy(secret[:], v)
			return secret, createCas, nil
		}
		if !found {
			cas = createCas
		}
		if _, err := io.ReadFull(random, secret[:]); err != nil {
			return secret, 0, err
		}
		// A mismatch means another VM stored its secret first: read that one.
		if _, err := d.Set(SecretKey, secret[:], cas); err != nil {
			return secret, 0, err
		}
	}
	return secret, 0, errSharedData
}

// attackGuard admits verify attempts; a nil table is a check that is off.
type attackGuard struct {
	secret [SecretSize]byte
	keys   *table
	ips    *table
}

func newAttackGuard(d SharedData, cfg *config, random io.Reader) (*attackGuard, error) {
	g := &attackGuard{}
	if cfg.maxAttempts == 0 && cfg.ipMaxFailures == 0 {
		return g, nil
	}
	secret, createCas, err := sharedSecret(d, random)
	if err != nil {
		return nil, err
	}
	g.secret = secret
	newTable := func(prefix string, max, window int) *table {
		if max == 0 {
			return nil
		}
		// The configuration bounds both: max ≤ 65535 and window ≤ one week.
		return &table{data: d, prefix: prefix, max: uint32(max), window: uint32(window), createCas: createCas} //nolint:gosec // bounded by parseAttackProtection
	}
	g.keys = newTable(keyTablePrefix, cfg.maxAttempts, cfg.windowSeconds)
	g.ips = newTable(ipTablePrefix, cfg.ipMaxFailures, cfg.ipWindowSeconds)
	return g, nil
}

// keyTag is the keyed hash of SPEC 7's key; the parts are length-prefixed, so different
// tuples never hash the same bytes.
func (g *attackGuard) keyTag(tenantName, conn, username, ip string) uint64 {
	h := newSipHash(&g.secret)
	h.writeByte('k')
	h.writePart(tenantName)
	h.writePart(conn)
	h.writePart(strings.ToLower(username))
	h.writePart(ip)
	return h.sum64()
}

func (g *attackGuard) ipTag(ip string) uint64 {
	h := newSipHash(&g.secret)
	h.writeByte('i')
	h.writePart(ip)
	return h.sum64()
}

// attempt is what admit took; settle gives it back or counts it.
type attempt struct {
	key, ip           slot
	keyTaken, ipTaken bool
}

// admit takes an attempt for the address and for the key, or answers 429 without taking
// any. A shared data error fails closed. ip is the client's address; both counts use its
// countedIP.
func (g *attackGuard) admit(tenantName string, p *verifyParams, ip string, now uint32) (attempt, *apiError) {
	var a attempt
	if g.ips == nil && g.keys == nil {
		return a, nil
	}
	ip = countedIP(ip)
	if g.ips != nil {
		s, blocked, err := g.ips.take(g.ipTag(ip), now)
		if err != nil {
			return a, internalError(err.Error())
		}
		if blocked {
			return a, newError(ErrSuspiciousIP)
		}
		a.ip, a.ipTaken = s, true
	}
	if g.keys != nil {
		s, blocked, err := g.keys.take(g.keyTag(tenantName, p.connection, p.username, ip), now)
		if err != nil || blocked {
			// Best effort: an attempt not given back only blocks early, never lets one through.
			_ = g.settle(a, verdictGivenBack)
		}
		if err != nil {
			return attempt{}, internalError(err.Error())
		}
		if blocked {
			return attempt{}, newError(ErrTooManyAttempts)
		}
		a.key, a.keyTaken = s, true
	}
	return a, nil
}

// verdict is how a user store answer settles an attempt.
type verdict uint8

const (
	verdictGivenBack verdict = iota // not a guess: the store was never asked, or judged otherwise
	verdictFailed                   // a counted failure: 401 invalid_user_password
	verdictVerified                 // given back; clears the key's failures, not the address's
	// verdictUnknown stays taken until its window ends: a timeout, a reset, a 5xx, any answer
	// SPEC 6 maps to 500, a client gone during the store call. The store may have judged the
	// code; giving the attempt back would let a store made slow take unlimited guesses (SPEC
	// 7). It is counted as a failure, in both tables: so it lasts the window and counts toward
	// ip_max_failures, and a later success clears it with the key's other failures, where an
	// attempt left in flight would outlive the success and lock out a user whose store had a
	// bad minute.
	verdictUnknown
)

// verdictOf is the verdict of the store's answer as the filter maps it (nil: verified).
func verdictOf(answer *apiError) verdict {
	switch {
	case answer == nil:
		return verdictVerified
	case answer.kind == ErrWrongCode:
		return verdictFailed
	case answer.kind == ErrServer:
		return verdictUnknown
	}
	return verdictGivenBack
}

func (g *attackGuard) settle(a attempt, v verdict) error {
	failed := v == verdictFailed || v == verdictUnknown
	var ipErr, keyErr error
	if a.ipTaken {
		ipErr = g.ips.settle(a.ip, failed, false)
	}
	if a.keyTaken {
		keyErr = g.keys.settle(a.key, failed, v == verdictVerified)
	}
	if ipErr == nil && keyErr == nil {
		return nil // errors.Join would allocate its arguments even then
	}
	return errors.Join(ipErr, keyErr)
}

// settle ends the request's attempt with the store's answer (nil: verified). A failure to
// write is logged: the attempt then stays taken until its window ends.
func (h *Stream) settle(a attempt, answer *apiError) { h.settleAs(a, verdictOf(answer)) }

// giveBack returns an attempt the user store never judged (SPEC 14: a refusal by the
// rate-limit service, a failed call to it with failure_mode_deny, a client gone before the
// store was asked; SPEC 7: a store call that could not be dispatched).
func (h *Stream) giveBack(a attempt) { h.settleAs(a, verdictGivenBack) }

func (h *Stream) settleAs(a attempt, v verdict) {
	if err := h.p.guard.settle(a, v); err != nil {
		h.host.Log(LogWarn, "passwordless_verify: "+err.Error())
	}
}

// unixNow is the time in seconds as tables store it.
func unixNow() uint32 {
	s := time.Now().Unix()
	switch {
	case s < 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

// KeyBucket is where a key's entry goes, given the shared secret. With SecretKey and
// BucketEntries it lets a test attack the placement as a client that knew the secret would.
func KeyBucket(secret [SecretSize]byte, tenantName, connection, username, ip string) int {
	g := attackGuard{secret: secret}
	return bucketOf(g.keyTag(tenantName, connection, username, ip))
}
