package main

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

const metricPrefix = "passwordless_verify."

// metrics are defined once per plugin in OnPluginStart (SPEC 10). None of them is ever keyed
// by request data: the code, usernames and client ids stay out of the stats.
type metrics struct {
	requests       proxywasm.MetricCounter
	verified       proxywasm.MetricCounter
	storeFailures  proxywasm.MetricCounter
	storeLatencyMS proxywasm.MetricHistogram
	errorsByCode   map[string]proxywasm.MetricCounter
	// byKind tells apart answers that share an error code: SPEC 7 asks for the per-address
	// 429 to be counted apart from the per-key one and from the store's own.
	byKind map[errorKind]proxywasm.MetricCounter
}

var kindMetrics = map[errorKind]string{
	errTooManyAttempts:      "attack_protection.key_blocked",
	errSuspiciousIP:         "attack_protection.ip_throttled",
	errStoreTooManyAttempts: "user_store_too_many_attempts",
}

func defineMetrics() *metrics {
	m := &metrics{
		requests:       proxywasm.DefineCounterMetric(metricPrefix + "requests"),
		verified:       proxywasm.DefineCounterMetric(metricPrefix + "verified"),
		storeFailures:  proxywasm.DefineCounterMetric(metricPrefix + "user_store_failures"),
		storeLatencyMS: proxywasm.DefineHistogramMetric(metricPrefix + "user_store_latency_ms"),
		errorsByCode:   map[string]proxywasm.MetricCounter{},
		byKind:         map[errorKind]proxywasm.MetricCounter{},
	}
	for kind, name := range kindMetrics {
		m.byKind[kind] = proxywasm.DefineCounterMetric(metricPrefix + name)
	}
	for _, e := range catalogue {
		if _, ok := m.errorsByCode[e.code]; !ok {
			m.errorsByCode[e.code] = proxywasm.DefineCounterMetric(metricPrefix + "error." + e.code)
		}
	}
	return m
}
