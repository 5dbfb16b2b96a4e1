package lxdprov_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"lab/harness/feature"
	"lab/harness/locate"
	"lab/harness/lxdprov"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// BenchmarkLXDMatrix times the whole matrix (every cell of every feature)
// on the local LXD at -j 2, from the run's first cell (its bases prepared
// then) to the last teardown; every cell must end with its expected
// verdict. The node images the profiles name must be built.
func BenchmarkLXDMatrix(b *testing.B) {
	available(b)
	plugins, hidext := testenv.Prereqs(b)
	root, err := locate.Root()
	if err != nil {
		b.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "features", "*.feature"))
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
	b.Run("j2", func(b *testing.B) {
		var total time.Duration
		for n := 0; n < b.N; n++ {
			p := shutAtEnd(b, lxdprov.New().(*lxdprov.Provider))
			run, err := runner.NewRun()
			if err != nil {
				b.Fatal(err)
			}
			opts := &runner.Options{ProfilesDir: filepath.Join(root, "images"), PluginDir: plugins, HidextLib: hidext, Run: run,
				KubeProxyDir: testenv.KubeProxy(b, testenv.KubeProxyVersions...), AgentExe: testenv.StaticAgent(b)}
			jobs := runner.Expand(cells, []provider.Provider{p}, 1, uint64(n+1))
			t0 := time.Now()
			for _, res := range opts.RunJobs(context.Background(), jobs, 2, nil) {
				if results.Bad(res.Verdict) {
					b.Errorf("cell %s: %s: %s", res.ID, res.Verdict, res.Error)
				}
			}
			total += time.Since(t0)
			if err := p.Shutdown(context.Background()); err != nil {
				b.Error(err)
			}
			run.Close()
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/matrix")
		b.ReportMetric(float64(len(cells)), "cells/op")
	})
}
