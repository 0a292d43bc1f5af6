package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passwordless-verify/filter/e2e/refstore/store"
)

// user is one user of the reference store, driven by one lane, one request at a time, so the
// lane knows the state of its code in the store.
type user struct {
	name     string
	ip       string // the address its requests come from
	code     string // the live code; "" when a new one must be issued
	verified bool   // the code passed verify: the redirect step may use it once more
	attempts int    // wrong codes the store counted against it
}

// traffic sends the soak's requests, lane by lane, and keeps every one for the checker.
type traffic struct {
	replicas []string // the replicas' listeners, http://host:port
	store    *store.Store
	faults   *faultyStore
	ledger   *ledger
	timeout  time.Duration
	rows     []row
	global   bool // fleet-wide limits: count what the rate-limit service may have counted

	seq  atomic.Uint64
	mu   sync.Mutex
	reqs []*request
}

// lane is one client: its address, its users, its connections to every replica.
type lane struct {
	t        *traffic
	ip       string
	rng      *rand.Rand
	clients  map[string][]*http.Client // by address, then replica
	users    []*user
	specials map[kind]uint64 // requests of blocked and of denied users so far
}

func (t *traffic) newLane(n int, ip string, seed uint64) *lane {
	return &lane{t: t, ip: ip, clients: map[string][]*http.Client{}, specials: map[kind]uint64{},
		rng: rand.New(rand.NewPCG(seed, uint64(n)))} //nolint:gosec // G404: seeded on purpose, the seed is printed
}

// send sends r from its address to its replica.
func (l *lane) send(ctx context.Context, r *request) {
	cs := l.clients[r.ip]
	if cs == nil {
		for range l.t.replicas {
			cs = append(cs, newClient(r.ip))
		}
		l.clients[r.ip] = cs
	}
	do(ctx, cs[r.replica], l.t.replicas[r.replica], r)
}

// fleetWide is the ledger's "replica" of the rate-limit service's counts, which every
// replica shares.
const fleetWide = -1

func (l *lane) close() {
	for _, cs := range l.clients {
		for _, c := range cs {
			c.CloseIdleConnections()
		}
	}
}

// letters names a number with lower-case letters only, so that no request id or username
// looks like a code in a log.
func letters(n uint64) string {
	var b []byte
	for {
		b = append(b, byte('a'+n%26))
		n /= 26
		if n == 0 {
			return string(b)
		}
	}
}

func (t *traffic) newRequest(k kind, replica int, ip string) *request {
	r := &request{id: "soak" + letters(t.seq.Add(1)), kind: k, replica: replica, ip: ip, header: http.Header{}}
	t.mu.Lock()
	t.reqs = append(t.reqs, r)
	t.mu.Unlock()
	return r
}

func (t *traffic) requests() []*request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*request(nil), t.reqs...)
}

// wrongCode is a 6-digit code that is not the user's.
func (l *lane) wrongCode(u *user) string {
	for {
		c := fmt.Sprintf("%06d", l.rng.IntN(1_000_000))
		if u == nil || c != u.code {
			return c
		}
	}
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// verifyRequest builds SPEC 4's POST in one of its spellings: JSON or a form, any alias of the
// username and the code, the tenant from its header or from the host.
func (l *lane) verifyRequest(r *request, username, code string) {
	r.user, r.code, r.method, r.path = username, code, http.MethodPost, verifyPath
	userKey := pick(l.rng, "username", "email", "phone_number")
	codeKey := pick(l.rng, codeFields...)
	if l.rng.IntN(4) == 0 {
		r.header.Set("host", tenant+".auth.example.com")
	} else {
		r.header.Set("x-tenant-id", tenant)
	}
	if l.rng.IntN(5) == 0 {
		r.origin = webOrigin
		r.header.Set("origin", webOrigin)
	}
	if l.rng.IntN(3) == 0 {
		form := url.Values{"client_id": {clientID}, "connection": {connection}, userKey: {username}, codeKey: {code}}
		r.header.Set("content-type", "application/x-www-form-urlencoded")
		r.body = []byte(form.Encode())
		return
	}
	r.header.Set("content-type", "application/json")
	r.body = fmt.Appendf(nil, `{"client_id":%q,"connection":%q,%q:%q,%q:%q,"scope":"openid"}`,
		clientID, connection, userKey, username, codeKey, code)
}

// redirectRequest builds SPEC 12's GET, as auth0.js sends it.
func (l *lane) redirectRequest(r *request, username, code string) {
	r.user, r.code, r.method, r.state = username, code, http.MethodGet, "st-"+r.id
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {callback},
		"connection": {connection}, "email": {username}, "verification_code": {code},
		"state": {r.state}, "nonce": {"n-" + r.id}}
	r.path = redirectPath + "?" + q.Encode()
	r.header.Set("x-tenant-id", tenant)
}

// storeBound sends a request that may reach the store, keeping SPEC 7's counts, and returns
// what it did.
func (l *lane) storeBound(ctx context.Context, r *request) outcome {
	key := ledgerKey{replica: r.replica, ip: r.ip, user: r.user}
	fleet := ledgerKey{replica: fleetWide, ip: r.ip, user: r.user}
	r.key.lo, r.addr.lo = l.t.ledger.begin(key)
	if l.t.global {
		l.t.ledger.begin(fleet) // the service counts every attempt it is asked about
	}
	l.send(ctx, r)
	out := classify(r)
	r.key.hi, r.addr.hi = l.t.ledger.end(key, out.effect())
	if l.t.global {
		r.fleetKey.hi, r.fleetAddr.hi = l.t.ledger.end(fleet, effectUnknown)
	}
	return out
}

// storeJudged says whether the reference store judged the request (no fault stood in between).
func (l *lane) storeJudged(r *request) bool {
	calls := l.t.faults.lookup(r.id)
	return len(calls) == 1 && calls[0].fault == faultNone
}

func (l *lane) replica() int { return l.rng.IntN(len(l.t.replicas)) }

// flow takes one user one step along the login: a code, verify, the redirect step, with
// wrong codes now and then.
func (l *lane) flow(ctx context.Context) error {
	u := l.users[l.rng.IntN(len(l.users))]
	if u.code == "" {
		if err := l.issue(ctx, u); err != nil {
			return err
		}
	}
	k := kindVerify
	switch p := l.rng.IntN(100); {
	case !u.verified && p >= 85:
		k = kindVerifyWrong
	case u.verified && p < 75:
		k = kindRedirect
	case u.verified && p < 85:
		k = kindRedirectWrong
	case u.verified:
		if err := l.issue(ctx, u); err != nil { // start again with a new code
			return err
		}
	}
	r := l.t.newRequest(k, l.replica(), u.ip)
	switch k {
	case kindVerify:
		l.verifyRequest(r, u.name, u.code)
	case kindVerifyWrong:
		l.verifyRequest(r, u.name, l.wrongCode(u))
	case kindRedirect:
		l.redirectRequest(r, u.name, u.code)
	default:
		l.redirectRequest(r, u.name, l.wrongCode(u))
	}
	out := l.storeBound(ctx, r)
	judged := l.storeJudged(r)
	switch {
	case r.kind == kindVerify && out == outVerified:
		u.verified = true
	case (r.kind == kindVerifyWrong || r.kind == kindRedirectWrong) && judged:
		u.attempts++
		if u.attempts >= store.MaxAttempts {
			u.code = ""
		}
	case judged || (out != outVerified && r.err != nil):
		u.code = "" // used, or in a state the lane cannot know: start again
	}
	return nil
}

func (l *lane) issue(ctx context.Context, u *user) error {
	c, err := l.t.store.IssueCode(ctx, tenant, connection, u.name)
	if err != nil {
		return fmt.Errorf("issue a code: %w", err)
	}
	u.code, u.verified, u.attempts = c, false, 0
	return nil
}

// special sends the live code of a blocked user, or of a user the client is denied. Each
// such user serves three requests, then another takes over: only faults count against them
// (a blocked or denied answer gives the attempt back), and they must not reach max_attempts.
func (l *lane) special(ctx context.Context) error {
	k, u := kindBlocked, &user{ip: l.ip}
	if l.rng.IntN(2) == 0 {
		k = kindDenied
	}
	n := l.specials[k]
	l.specials[k]++
	u.name = fmt.Sprintf("%s-%s-%s@soak.test", k, strings.ReplaceAll(l.ip, ".", "-"), letters(n/3))
	if n%3 == 0 {
		if err := l.t.putUser(ctx, u.name, k == kindBlocked, k == kindDenied); err != nil {
			return err
		}
	}
	if err := l.issue(ctx, u); err != nil {
		return err
	}
	r := l.t.newRequest(k, l.replica(), l.ip)
	l.verifyRequest(r, u.name, u.code)
	l.storeBound(ctx, r)
	return nil
}

// putUser puts a user of the soak into the reference store.
func (t *traffic) putUser(ctx context.Context, name string, blocked, denied bool) error {
	u := store.User{Tenant: tenant, Connection: connection, Username: name, UserID: "soak|" + name,
		Blocked: blocked, Profile: []byte(`{"name":"Soak User","email_verified":true}`)}
	if denied {
		u.AllowedClients = []string{"other-client"}
	}
	_, err := t.store.PutUser(ctx, u)
	return err
}

// rejected sends one of the requests the filter refuses itself.
func (l *lane) rejected(ctx context.Context) {
	w := l.t.rows[l.rng.IntN(len(l.t.rows))]
	r := l.t.newRequest(kindRejected, l.replica(), l.ip)
	r.name, r.local, r.chunked = w.name, &w.want, w.chunked
	r.method, r.path, r.body = w.method, w.path, []byte(w.body)
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = verifyPath
	}
	if strings.HasPrefix(r.path, redirectPath+"?") {
		r.state = "st-row"
	}
	r.header.Set("x-tenant-id", tenant)
	if r.method == http.MethodPost || r.method == http.MethodPut {
		r.header.Set("content-type", "application/json")
	}
	for k, v := range w.header {
		if v == "" {
			r.header.Del(k)
		} else {
			r.header.Set(k, v)
		}
	}
	l.send(ctx, r)
}

// preflight is SPEC 13's OPTIONS from the client's web origin.
func (l *lane) preflight(ctx context.Context) {
	r := l.t.newRequest(kindPreflight, l.replica(), l.ip)
	r.method, r.path = http.MethodOptions, verifyPath
	r.header.Set("x-tenant-id", tenant)
	r.header.Set("origin", webOrigin)
	r.header.Set("access-control-request-method", "POST")
	r.local = &want{status: http.StatusNoContent, headers: map[string]string{
		"access-control-allow-origin":  webOrigin,
		"access-control-allow-methods": "POST",
		"access-control-allow-headers": "content-type, auth0-client",
		"access-control-max-age":       "600",
		"vary":                         "origin",
	}}
	l.send(ctx, r)
}

// passThrough is any other path, carrying identity headers a client forged in every spelling
// SPEC 9 names; none may reach the upstream.
func (l *lane) passThrough(ctx context.Context) {
	r := l.t.newRequest(kindPassThrough, l.replica(), l.ip)
	r.method, r.path = http.MethodGet, "/soak/api/"+r.id+"?page=1"
	if l.rng.IntN(3) == 0 {
		r.method = http.MethodPost
		r.header.Set("content-type", "application/json")
		r.body = []byte(`{"client_id":"acme-web","username":"someone@soak.test","otp":"not-ours"}`)
	}
	r.header.Set("x-tenant-id", tenant)
	r.header[headerUserID] = []string{"forged"}
	r.header["x_passwordless_user_id"] = []string{"forged"}
	r.header["x-passwordless_tenant"] = []string{"forged"}
	l.send(ctx, r)
}

// normal runs a lane of ordinary clients until ctx ends.
func (l *lane) normal(ctx context.Context) error {
	for ctx.Err() == nil {
		var err error
		switch p := l.rng.IntN(100); {
		case p < 45:
			err = l.flow(ctx)
		case p < 50:
			err = l.special(ctx)
		case p < 72:
			l.rejected(ctx)
		case p < 82:
			l.preflight(ctx)
		default:
			l.passThrough(ctx)
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// attackTriesPerUser goes past max_attempts, so that SPEC 7's key limit refuses some.
const attackTriesPerUser = soakMaxAttempts + 2

// attack guesses codes for users nobody has, several per username and then the next one, on
// the POST and on the redirect step: SPEC 7's key and address limits both come into play.
func (l *lane) attack(ctx context.Context) {
	for i := uint64(0); ctx.Err() == nil; i++ {
		name := fmt.Sprintf("atk-%s-%s@soak.test", strings.ReplaceAll(l.ip, ".", "-"), letters(i/attackTriesPerUser))
		r := l.t.newRequest(kindAttack, l.replica(), l.ip)
		if l.rng.IntN(5) == 0 {
			r.kind = kindRedirectWrong
			l.redirectRequest(r, name, l.wrongCode(nil))
		} else {
			l.verifyRequest(r, name, l.wrongCode(nil))
		}
		l.storeBound(ctx, r)
		sleep(ctx, 10*time.Millisecond)
	}
}

// hangups sends verify requests and leaves before their answer.
func (l *lane) hangups(ctx context.Context) {
	for i := uint64(0); ctx.Err() == nil; i++ {
		name := fmt.Sprintf("hang-%s-%s@soak.test", strings.ReplaceAll(l.ip, ".", "-"), letters(i/4))
		r := l.t.newRequest(kindHangup, l.replica(), l.ip)
		l.verifyRequest(r, name, l.wrongCode(nil))
		r.header.Del("origin")
		r.header.Del("host") // hangup writes its own
		r.header.Set("x-tenant-id", tenant)
		r.origin = ""
		key := ledgerKey{replica: r.replica, ip: r.ip, user: r.user}
		r.key.lo, r.addr.lo = l.t.ledger.begin(key)
		hostport := strings.TrimPrefix(l.t.replicas[r.replica], "http://")
		hangup(l.ip, hostport, r, l.rng.IntN(3), time.Duration(l.rng.Int64N(int64(l.t.timeout*3/2))))
		r.key.hi, r.addr.hi = l.t.ledger.end(key, effectUnknown)
		sleep(ctx, 20*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
