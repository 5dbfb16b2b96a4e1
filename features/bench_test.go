package features

import (
	"context"
	"path/filepath"
	"testing"

	"lab/harness/feature"
	"lab/harness/netnsprov"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// benchCells runs each cell of a feature b.N times; the target for a dnat
// cell is under 1 s on a 2-core machine (see `make bench`).
func benchCells(b *testing.B, file string) {
	ft, err := feature.Parse(file)
	if err != nil {
		b.Fatal(err)
	}
	opts := cellOptions(b, "../images")
	for i, c := range ft.Cells {
		b.Run(c.Profile+"/L"+itoa(c.Line), func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				if res := opts.Cell(context.Background(), i, c); res.Status != results.Passed {
					b.Fatalf("cell %s: %s: %s", res.ID, res.Status, res.Error)
				}
			}
		})
	}
}

// BenchmarkDnatCell times each dnat-stop-start cell end to end: boot the
// namespaces, CNI ADD through libcni, stop/start, probes, teardown.
func BenchmarkDnatCell(b *testing.B) { benchCells(b, "dnat-stop-start.feature") }

// BenchmarkMatrix runs every cell of every feature with -j1 and -j2 (the
// target: the whole netns matrix under 15 s at -j2 on a 2-core machine).
func BenchmarkMatrix(b *testing.B) {
	plugins, hidext := testenv.Prereqs(b)
	files, err := filepath.Glob("*.feature")
	if err != nil {
		b.Fatal(err)
	}
	var cells []feature.Cell
	for _, f := range files {
		ft, err := feature.Parse(f)
		if err != nil {
			b.Fatal(err)
		}
		cells = append(cells, ft.Cells...)
	}
	for _, j := range []int{1, 2} {
		b.Run("j"+itoa(j), func(b *testing.B) {
			for n := 0; n < b.N; n++ {
				run, err := runner.NewRun()
				if err != nil {
					b.Fatal(err)
				}
				opts := &runner.Options{ProfilesDir: "../images", PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(b, testenv.KubeProxyVersions...), HidextLib: hidext, Run: run}
				jobs := runner.Expand(cells, []provider.Provider{netnsprov.New()}, 1, uint64(n+1))
				for _, res := range opts.RunJobs(context.Background(), jobs, j, nil) {
					if results.Bad(res.Verdict) {
						b.Errorf("cell %s: %s: %s", res.ID, res.Verdict, res.Error)
					}
				}
				run.Close()
			}
			b.ReportMetric(float64(len(cells)), "cells/op")
		})
	}
}
