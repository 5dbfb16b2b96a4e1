package dockerprov_test

import (
	"context"
	"testing"
	"time"

	"lab/harness/feature"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
)

// BenchmarkDockerMatrix times the whole matrix (every cell of every
// feature) on docker at -j 2, boot to removal, and reports each
// scenario's median cell time; every cell must end with its expected
// verdict. The node images the profiles name must be built (`make
// images`).
func BenchmarkDockerMatrix(b *testing.B) {
	p := docker(b)
	cells, err := feature.Cells("../../features/*.feature")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("j2", func(b *testing.B) {
		var total time.Duration
		var last []*results.Cell
		for n := 0; n < b.N; n++ {
			opts := cellOptions(b, p)
			jobs := runner.Expand(cells, []provider.Provider{p}, 1, uint64(n+1))
			t0 := time.Now()
			last = opts.RunJobs(context.Background(), jobs, 2, nil)
			total += time.Since(t0)
			for _, res := range last {
				if results.Bad(res.Verdict) {
					b.Errorf("cell %s: %s: %s", res.ID, res.Verdict, res.Error)
				}
			}
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/matrix")
		b.ReportMetric(float64(len(cells)), "cells/op")
		for sc, v := range results.ScenarioMedians(last) {
			b.ReportMetric(v, "median-s/"+sc)
		}
	})
}
