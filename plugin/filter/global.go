package filter

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/passwordless-verify/filter/shared/jsoncheck"
	"github.com/passwordless-verify/filter/shared/storewire"
)

// Fleet-wide attack protection (SPEC 14): after every local check, and before the user store
// call, the filter asks Envoy's global rate-limit service (envoyproxy/ratelimit) about the
// attempt through its HTTP JSON endpoint. The service's counters, in Redis, are shared by
// every replica of the fleet, where section 7's counts live in one Envoy process.

// Defaults of attack_protection.global.
const (
	defaultGlobalPath      = "/json"
	defaultGlobalDomain    = "passwordless_verify"
	DefaultGlobalTimeoutMS = 200
)

type globalConfig struct {
	cluster         string
	authority       string
	path            string
	domain          string
	timeoutMS       uint32
	failureModeDeny bool
}

func (c *config) parseGlobal(field string, v gjson.Result) error {
	g := &globalConfig{path: defaultGlobalPath, domain: defaultGlobalDomain, timeoutMS: DefaultGlobalTimeoutMS}
	err := object(v, field, map[string]func(string, gjson.Result) error{
		"cluster":   func(f string, v gjson.Result) error { return nonEmptyStr(f, v, &g.cluster) },
		"authority": func(f string, v gjson.Result) error { return nonEmptyStr(f, v, &g.authority) },
		"path":      func(f string, v gjson.Result) error { return urlPath(f, v, &g.path) },
		"domain":    func(f string, v gjson.Result) error { return nonEmptyStr(f, v, &g.domain) },
		"timeout_ms": func(f string, v gjson.Result) error {
			return timeout(f, v, &g.timeoutMS)
		},
		"failure_mode_deny": func(f string, v gjson.Result) error { return boolean(f, v, &g.failureModeDeny) },
	})
	if err != nil {
		return err
	}
	if g.cluster == "" {
		return errors.New(field + ".cluster: required")
	}
	if g.authority == "" {
		g.authority = g.cluster
	}
	c.global = g
	return nil
}

// userDescriptor is SPEC 14's user value: the username never leaves the proxy, only the first
// 32 hex digits of a hash that binds it to its tenant and connection (and lower-cased, as
// section 7's key).
func userDescriptor(tenantName, conn, username string) string {
	h := sha256.New()
	h.Write([]byte(tenantName))
	h.Write([]byte{0})
	h.Write([]byte(conn))
	h.Write([]byte{0})
	h.Write([]byte(strings.ToLower(username)))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))[:32]
}

// appendBody appends the exact request body of SPEC 14 to b.
func (g *globalConfig) appendBody(b []byte, tenantName, conn, username, ip string) []byte {
	b = append(b, `{"domain":`...)
	b = storewire.AppendString(b, g.domain)
	b = append(b, `,"descriptors":[{"entries":[`...)
	b = appendEntry(b, "tenant", tenantName, ',')
	b = appendEntry(b, "connection", conn, ',')
	b = appendEntry(b, "user", userDescriptor(tenantName, conn, username), ',')
	b = appendEntry(b, "client_ip", ip, ']')
	b = append(b, `},{"entries":[`...)
	b = appendEntry(b, "tenant", tenantName, ',')
	b = appendEntry(b, "client_ip", ip, ']')
	return append(b, `}],"hits_addend":1}`...)
}

// appendEntry appends one descriptor entry and then after.
func appendEntry(b []byte, key, value string, after byte) []byte {
	b = append(b, `{"key":"`...)
	b = append(b, key...)
	b = append(b, `","value":`...)
	b = storewire.AppendString(b, value)
	return append(b, '}', after)
}

// globalVerdict is what the service's answer means for the attempt.
type globalVerdict uint8

const (
	globalOK      globalVerdict = iota // go on to the store
	globalOverKey                      // over the user + address limit
	globalOverIP                       // over the per-address limit
	globalFailed                       // no usable answer: failure_mode_deny decides
)

// mapGlobalAnswer reads the service's answer (SPEC 14): status 200 or 429 with a JSON object
// whose overallCode is OK or OVER_LIMIT. Anything else is a failed call.
func mapGlobalAnswer(a callAnswer) globalVerdict {
	if a.failed || a.tooLarge || a.status != "200" && a.status != "429" {
		return globalFailed
	}
	if _, err := jsoncheck.Check(a.body, jsoncheck.Options{}); err != nil {
		return globalFailed
	}
	obj := gjson.Parse(view(a.body))
	if !obj.IsObject() {
		return globalFailed
	}
	switch code := member(obj, "overallCode"); {
	case code.Type != gjson.String:
		return globalFailed
	case code.Str == "OK":
		return globalOK
	case code.Str != "OVER_LIMIT":
		return globalFailed
	}
	// statuses[1] is the per-address descriptor's.
	if s := member(obj, "statuses"); s.IsArray() {
		if st := s.Array(); len(st) > 1 && member(st[1], "code").Str == "OVER_LIMIT" {
			return globalOverIP
		}
	}
	return globalOverKey
}

// askGlobal asks the rate-limit service about the attempt att took, before the store.
func (h *Stream) askGlobal(att attempt, ip string) Action {
	g := h.p.cfg.global
	headers := append(h.p.callHeaders[:0],
		[2]string{":method", "POST"},
		[2]string{":path", g.path},
		[2]string{":authority", g.authority},
		[2]string{"content-type", "application/json"},
	)
	h.r.att, h.r.ip = att, ip // att is given back by OnDone if the client leaves during the call
	h.p.callBody = g.appendBody(h.p.callBody[:0], h.r.tenant, h.r.params.connection, h.r.params.username, countedIP(ip))
	err := h.call(callingGlobal, g.cluster, headers, h.p.callBody, g.timeoutMS)
	if err != nil {
		return h.globalFailed(att, ip, "rate-limit service call not dispatched: "+err.Error())
	}
	return Pause
}

func (h *Stream) onGlobalAnswer(att attempt, ip string, a callAnswer) {
	switch mapGlobalAnswer(a) {
	case globalOK:
		h.callStore(att, ip)
	case globalOverKey:
		h.globalRefused(att, ErrTooManyAttempts)
	case globalOverIP:
		h.globalRefused(att, ErrSuspiciousIP)
	default:
		reason := "rate-limit service call failed"
		if !a.failed {
			reason = "rate-limit service answered " + a.status + " without an overallCode of OK or OVER_LIMIT"
		}
		h.globalFailed(att, ip, reason)
	}
}

// globalRefused answers 429 and gives the local attempt back: a fleet-wide refusal is not a
// counted failure.
func (h *Stream) globalRefused(att attempt, kind ErrorKind) {
	h.p.metrics.globalOverLimit.Increment(1)
	h.giveBack(att)
	// The reason tells the log reader this was the fleet's limit, not this proxy's.
	h.fail(&apiError{kind: kind, logReason: "over a fleet-wide limit of the rate-limit service"})
}

// globalFailed follows failure_mode_deny: on to the store (section 7 still holds locally), or
// 500 with the attempt given back, since the store was never asked.
func (h *Stream) globalFailed(att attempt, ip, reason string) Action {
	h.p.metrics.globalFailures.Increment(1)
	if !h.p.cfg.global.failureModeDeny {
		h.host.Log(LogWarn, "passwordless_verify: "+reason+"; asking the user store without fleet-wide limits")
		return h.callStore(att, ip)
	}
	h.giveBack(att)
	return h.fail(internalError(reason))
}
