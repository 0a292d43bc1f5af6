package wasmhost

import (
	"fmt"
	"sync"
)

// MetricType is a proxy_define_metric type.
type MetricType uint32

const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

func (t MetricType) String() string {
	switch t {
	case MetricCounter:
		return "counter"
	case MetricGauge:
		return "gauge"
	case MetricHistogram:
		return "histogram"
	}
	return fmt.Sprintf("MetricType(%d)", uint32(t))
}

// Metric is a snapshot of one metric. For histograms Value is the number of samples and
// Samples holds the recorded values in order (the first maxSamples of them, so long benchmarks
// do not grow without bound).
type Metric struct {
	Type    MetricType
	Value   uint64
	Samples []uint64
}

// Stats is a metric store. In Envoy all VMs of a plugin write to the same stats scope, so a
// counter bumped by two workers is one counter: share one Stats between VMs to model that.
type Stats struct {
	mu sync.Mutex
	m  map[string]*Metric
}

// NewStats returns an empty store.
func NewStats() *Stats { return &Stats{m: map[string]*Metric{}} }

// Snapshot copies every metric, keyed by the name the guest defined.
func (s *Stats) Snapshot() map[string]Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Metric, len(s.m))
	for k, v := range s.m {
		c := *v
		c.Samples = append([]uint64(nil), v.Samples...)
		out[k] = c
	}
	return out
}

func (s *Stats) define(t MetricType, name string) (*Metric, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.m[name]; ok {
		// Envoy keeps separate namespaces per type; one name with two types is not modelled.
		return m, m.Type == t
	}
	m := &Metric{Type: t}
	s.m[name] = m
	return m, true
}

// metricRef is what a VM-local metric id points at. Ids follow Envoy: the low two bits are the
// type, so an id of the wrong type is rejected without a lookup.
type metricRef struct {
	m *Metric
}

const (
	metricTypeMask = 3
	maxSamples     = 1 << 16
)

func (vm *VM) defineMetric(t MetricType, name string) (uint32, uint32) {
	if t > MetricHistogram {
		return 0, statusBadArgument
	}
	m, ok := vm.stats.define(t, name)
	if !ok {
		return 0, statusBadArgument
	}
	vm.nextMetric[t]++
	id := vm.nextMetric[t]<<2 | uint32(t)
	vm.metrics[id] = metricRef{m: m}
	return id, statusOK
}

func (vm *VM) incrementMetric(id uint32, offset int64) uint32 {
	ref, ok := vm.metrics[id]
	switch MetricType(id & metricTypeMask) {
	case MetricCounter:
		if !ok {
			return statusNotFound
		}
		if offset <= 0 { // counters only go up
			return statusBadArgument
		}
		vm.stats.mu.Lock()
		ref.m.Value += uint64(offset)
		vm.stats.mu.Unlock()
		return statusOK
	case MetricGauge:
		if !ok {
			return statusNotFound
		}
		vm.stats.mu.Lock()
		ref.m.Value += uint64(offset) //nolint:gosec // G115: two's complement on purpose: a negative offset subtracts
		vm.stats.mu.Unlock()
		return statusOK
	}
	return statusBadArgument
}

func (vm *VM) recordMetric(id uint32, value uint64) uint32 {
	ref, ok := vm.metrics[id]
	if !ok {
		return statusNotFound
	}
	vm.stats.mu.Lock()
	defer vm.stats.mu.Unlock()
	switch ref.m.Type {
	case MetricCounter:
		ref.m.Value += value
	case MetricGauge:
		ref.m.Value = value
	case MetricHistogram:
		ref.m.Value++
		if len(ref.m.Samples) < maxSamples {
			ref.m.Samples = append(ref.m.Samples, value)
		}
	}
	return statusOK
}

func (vm *VM) getMetric(id uint32) (uint64, uint32) {
	ref, ok := vm.metrics[id]
	switch MetricType(id & metricTypeMask) {
	case MetricCounter, MetricGauge:
		if !ok {
			return 0, statusNotFound
		}
		vm.stats.mu.Lock()
		defer vm.stats.mu.Unlock()
		return ref.m.Value, statusOK
	}
	return 0, statusBadArgument
}
