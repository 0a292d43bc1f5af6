package wasmhost

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMetricsAndLogs(t *testing.T) {
	ctx := context.Background()
	stats := NewStats()
	vm1 := probe(t, Config{Stats: stats}, "headers", "1", "body", "1")
	vm2 := probe(t, Config{Stats: stats}, "headers", "1", "body", "1")
	for _, body := range []string{"abc", "abcdefg"} {
		if _, err := vm1.Do(ctx, Request{Method: "POST", Body: []byte(body), ChunkSize: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vm2.Do(ctx, Request{Method: "POST", Body: []byte("12345")}); err != nil {
		t.Fatal(err)
	}
	m := vm1.Metrics()
	// Envoy's stats scope is shared by every VM of a plugin: one counter across both.
	if c := m["probe.requests"]; c.Type != MetricCounter || c.Value != 3 {
		t.Errorf("probe.requests %+v", c)
	}
	if g := m["probe.bytes"]; g.Type != MetricGauge || g.Value != 5 {
		t.Errorf("probe.bytes %+v (a gauge record sets the value)", g)
	}
	if h := m["probe.sizes"]; h.Type != MetricHistogram || h.Value != 3 || !slices.Equal(h.Samples, []uint64{3, 7, 5}) {
		t.Errorf("probe.sizes %+v", h)
	}
	// proxy_get_metric reads the shared value back.
	if got := logsWith(vm2, "requests=3"); len(got) != 1 {
		t.Errorf("get_metric: %q", logsWith(vm2, "headers"))
	}
	var levels []LogLevel
	for _, l := range vm1.Logs() {
		levels = append(levels, l.Level)
	}
	if !slices.Contains(levels, LogInfo) || slices.Contains(levels, LogError) {
		t.Errorf("levels %v", levels)
	}
}

func TestMetricStatuses(t *testing.T) {
	vm := probe(t, Config{})
	vm.mu.Lock()
	defer vm.mu.Unlock()
	c, _ := vm.defineMetric(MetricCounter, "c")
	g, _ := vm.defineMetric(MetricGauge, "g")
	h, _ := vm.defineMetric(MetricHistogram, "h")
	if _, st := vm.defineMetric(3, "bad"); st != statusBadArgument {
		t.Errorf("bad type: %d", st)
	}
	for _, tc := range []struct {
		name string
		got  uint32
		want uint32
	}{
		{"counter +1", vm.incrementMetric(c, 1), statusOK},
		{"counter -1", vm.incrementMetric(c, -1), statusBadArgument},
		{"gauge -1", vm.incrementMetric(g, -1), statusOK},
		{"histogram increment", vm.incrementMetric(h, 1), statusBadArgument},
		{"unknown counter", vm.incrementMetric(c+4, 1), statusNotFound},
		{"record histogram", vm.recordMetric(h, 9), statusOK},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if _, st := vm.getMetric(h); st != statusBadArgument {
		t.Errorf("get histogram: %d", st)
	}
	if v, _ := vm.getMetric(g); v != ^uint64(0) {
		t.Errorf("gauge 0-1 = %d", v)
	}
}

func TestTicksAndProxyDone(t *testing.T) {
	ctx := context.Background()
	vm, err := module(t, "probe").NewVM(ctx, Config{PluginConfig: []byte("tick_ms=5&done_defer=1")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for vm.Metrics()["probe.ticks"].Value < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no ticks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// proxy_on_done answers false; the next tick calls proxy_done; only then proxy_on_delete.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := vm.Close(cctx); err != nil {
		t.Fatal(err)
	}
	var tail []string
	for _, l := range vm.Logs() {
		if f := strings.Fields(l.Msg)[0]; f == "done" || f == "proxy_done=0" || f == "delete" {
			tail = append(tail, f)
		}
	}
	if !slices.Equal(tail, []string{"done", "proxy_done=0", "delete"}) {
		t.Errorf("shutdown order %v", tail)
	}
	n := vm.Metrics()["probe.ticks"].Value
	time.Sleep(30 * time.Millisecond)
	if vm.Metrics()["probe.ticks"].Value != n {
		t.Error("ticks continue after Close")
	}
}
