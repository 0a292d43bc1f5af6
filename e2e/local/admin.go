package local

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// statsHandler is the admin port: GET /stats lists the plugin's metrics, one "name value" line
// each, sorted. Histograms show their sample count and quantiles instead of one value. The
// front stays free of admin paths, as in Envoy, where the admin listener is separate.
func statsHandler(stats *wasmhost.Stats) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprint(w, formatStats(stats.Snapshot()))
	})
	return mux
}

func formatStats(m map[string]wasmhost.Metric) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		v := m[n]
		if v.Type != wasmhost.MetricHistogram {
			fmt.Fprintf(&b, "%s %d\n", n, v.Value)
			continue
		}
		fmt.Fprintf(&b, "%s count(%d)", n, v.Value)
		s := slices.Clone(v.Samples)
		slices.Sort(s)
		for _, q := range []int{50, 90, 99, 100} {
			if len(s) > 0 {
				fmt.Fprintf(&b, " P%d(%d)", q, s[(len(s)-1)*q/100])
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
