package authzpeer

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// attempts is SPEC 7's attack protection in the service's memory, under one lock: the
// attempts per (tenant, connection, lower-cased username, client IP) and the failures per
// client IP. One service process serves every Envoy worker, so nothing needs sharing further.
type attempts struct {
	mu               sync.Mutex
	keys, ips        map[string]*count
	maxKey, maxIP    int
	keyWin, ipWin    time.Duration
	now              func() time.Time
	sweepAt, maxSize int
}

// count is failures plus attempts in flight, for a window that starts at the first one.
type count struct {
	n     int
	start time.Time
}

func newAttempts(c *Config) *attempts {
	return &attempts{
		keys: map[string]*count{}, ips: map[string]*count{},
		maxKey: *c.AttackProtection.MaxAttempts, maxIP: *c.AttackProtection.IPMaxFailures,
		keyWin: time.Duration(c.AttackProtection.WindowSeconds) * time.Second,
		ipWin:  time.Duration(c.AttackProtection.IPWindowSeconds) * time.Second,
		now:    time.Now, maxSize: 100_000,
	}
}

// outcome is how a store call settles its attempt.
type outcome int

const (
	settledSuccess   outcome = iota // clears the key
	settledWrongCode                // stays as a failure of the key and of the IP
	settledGiveBack                 // another verdict: the attempt is given back
	settledUnknown                  // timeout, reset, 5xx: stays taken, counts for the IP
)

// attemptKey is the key of SPEC 7; clientIP is already the IP of the count.
func attemptKey(tenant string, p params, clientIP string) string {
	return tenant + "\x00" + p.connection + "\x00" + strings.ToLower(p.username) + "\x00" + clientIP
}

// countedIP is the address attempts are counted by: IPv4 as it is, IPv6 as its /64.
func countedIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// take admits an attempt, or says which limit refuses it: suspicious (the IP's failures) or
// not (the key's attempts).
func (a *attempts) take(key, ip string) (ok, suspicious bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.maxIP > 0 && a.live(a.ips, ip, a.ipWin, now).n >= a.maxIP {
		return false, true
	}
	if a.maxKey == 0 {
		return true, false
	}
	c := a.live(a.keys, key, a.keyWin, now)
	if c.n >= a.maxKey {
		return false, false
	}
	if c.n == 0 {
		c.start = now
		a.keys[key] = c
		a.sweep(now)
	}
	c.n++
	return true, false
}

// settle ends an attempt taken with take.
func (a *attempts) settle(key, ip string, o outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if o == settledWrongCode || o == settledUnknown {
		if a.maxIP > 0 {
			now := a.now()
			c := a.live(a.ips, ip, a.ipWin, now)
			if c.n == 0 {
				c.start = now
				a.ips[ip] = c
			}
			c.n++
		}
		return
	}
	c := a.keys[key]
	switch {
	case c == nil:
	case o == settledSuccess || c.n <= 1:
		delete(a.keys, key)
	default:
		c.n--
	}
}

// live is the count of k in its window, a fresh one (not yet stored) if none.
func (a *attempts) live(m map[string]*count, k string, win time.Duration, now time.Time) *count {
	c := m[k]
	if c == nil || now.Sub(c.start) >= win {
		delete(m, k)
		return &count{}
	}
	return c
}

// sweep drops the ended windows once the key table has grown past maxSize since the last
// sweep; keys inside their window stay, so a blocked key stays blocked.
func (a *attempts) sweep(now time.Time) {
	if len(a.keys) < a.sweepAt+a.maxSize {
		return
	}
	for _, m := range []struct {
		m   map[string]*count
		win time.Duration
	}{{a.keys, a.keyWin}, {a.ips, a.ipWin}} {
		for k, c := range m.m {
			if now.Sub(c.start) >= m.win {
				delete(m.m, k)
			}
		}
	}
	a.sweepAt = len(a.keys)
}
