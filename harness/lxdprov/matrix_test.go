package lxdprov_test

import (
	"context"
	"testing"
	"time"

	"lab/harness/lxdprov"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
)

// BenchmarkLXDMatrix times the whole matrix (every cell of every feature)
// on the local LXD at -j 2, from the run's first cell (its bases prepared
// then) to the run's Shutdown (the last teardown, and the bases removed);
// every cell must end with its expected
// verdict. It also reports each scenario's median cell time. The node images the profiles name must be built.
func BenchmarkLXDMatrix(b *testing.B) {
	available(b)
	b.Run("j2", func(b *testing.B) {
		var total time.Duration
		cells := 0
		var last []*results.Cell
		for n := 0; n < b.N; n++ {
			p := shutAtEnd(b, lxdprov.New().(*lxdprov.Provider))
			opts, all := cellOptions(b, p)
			cells = len(all)
			jobs := runner.Expand(all, []provider.Provider{p}, 1, uint64(n+1))
			t0 := time.Now()
			last = opts.RunJobs(context.Background(), jobs, 2, nil)
			for _, res := range last {
				if results.Bad(res.Verdict) {
					b.Errorf("cell %s: %s: %s", res.ID, res.Verdict, res.Error)
				}
			}
			// the cells' deletions run in the background: timed until the
			// run's Shutdown has waited for them (and removed the bases)
			if err := p.Shutdown(context.Background()); err != nil {
				b.Error(err)
			}
			total += time.Since(t0)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/matrix")
		b.ReportMetric(float64(cells), "cells/op")
		// per scenario, the median cell of the last matrix
		for sc, v := range results.ScenarioMedians(last) {
			b.ReportMetric(v, "median-s/"+sc)
		}
	})
}
