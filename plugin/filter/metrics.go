package filter

const metricPrefix = "passwordless_verify."

// metrics are defined once per plugin in OnPluginStart (SPEC 10). None of them is ever keyed
// by request data: the code, usernames and client ids stay out of the stats.
type metrics struct {
	requests       Counter
	verified       Counter
	storeFailures  Counter
	storeLatencyMS Histogram
	errorsByCode   map[string]Counter
	// byKind tells apart answers that share an error code: SPEC 7 asks for the per-address
	// 429 to be counted apart from the per-key one and from the store's own.
	byKind map[ErrorKind]Counter
}

var kindMetrics = map[ErrorKind]string{
	ErrTooManyAttempts:      "attack_protection.key_blocked",
	ErrSuspiciousIP:         "attack_protection.ip_throttled",
	ErrStoreTooManyAttempts: "user_store_too_many_attempts",
}

func defineMetrics(d Metrics) *metrics {
	m := &metrics{
		requests:       d.Counter(metricPrefix + "requests"),
		verified:       d.Counter(metricPrefix + "verified"),
		storeFailures:  d.Counter(metricPrefix + "user_store_failures"),
		storeLatencyMS: d.Histogram(metricPrefix + "user_store_latency_ms"),
		errorsByCode:   map[string]Counter{},
		byKind:         map[ErrorKind]Counter{},
	}
	for kind, name := range kindMetrics {
		m.byKind[kind] = d.Counter(metricPrefix + name)
	}
	for _, e := range Catalogue {
		if _, ok := m.errorsByCode[e.Code]; !ok {
			m.errorsByCode[e.Code] = d.Counter(metricPrefix + "error." + e.Code)
		}
	}
	return m
}
