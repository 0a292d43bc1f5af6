package filter

const metricPrefix = "passwordless_verify."

// metrics are defined once per plugin in OnPluginStart (SPEC 10). None of them is ever keyed
// by request data: the code, usernames and client ids stay out of the stats.
type metrics struct {
	requests       Counter
	verified       Counter
	storeFailures  Counter
	storeLatencyMS Histogram
	// SPEC 14: refusals by the rate-limit service, and calls to it that failed.
	globalOverLimit Counter
	globalFailures  Counter
	byCode          [NumErrorKinds]Counter // error.<code>, one counter for the kinds sharing a code
	// byKind tells apart answers that share an error code: SPEC 7 asks for the per-address
	// 429 to be counted apart from the per-key one and from the store's own. nil: none.
	byKind [NumErrorKinds]Counter
}

var kindMetrics = map[ErrorKind]string{
	ErrTooManyAttempts:      "attack_protection.key_blocked",
	ErrSuspiciousIP:         "attack_protection.ip_throttled",
	ErrStoreTooManyAttempts: "user_store_too_many_attempts",
}

func defineMetrics(d Metrics) *metrics {
	m := &metrics{
		requests:        d.Counter(metricPrefix + "requests"),
		verified:        d.Counter(metricPrefix + "verified"),
		storeFailures:   d.Counter(metricPrefix + "user_store_failures"),
		storeLatencyMS:  d.Histogram(metricPrefix + "user_store_latency_ms"),
		globalOverLimit: d.Counter(metricPrefix + "global_over_limit"),
		globalFailures:  d.Counter(metricPrefix + "global_failures"),
	}
	for kind, name := range kindMetrics {
		m.byKind[kind] = d.Counter(metricPrefix + name)
	}
	codes := map[string]Counter{}
	for kind, e := range Catalogue {
		if codes[e.Code] == nil {
			codes[e.Code] = d.Counter(metricPrefix + "error." + e.Code)
		}
		m.byCode[kind] = codes[e.Code]
	}
	return m
}
