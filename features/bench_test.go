package features

import (
	"context"
	"testing"

	"lab/harness/feature"
	"lab/harness/netnsprov"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// benchCells runs each cell of a feature b.N times; the target for a dnat
// cell is under 1 s on a 2-core machine (see `make bench`).
func benchCells(b *testing.B, file string) {
	plugins, hidext := testenv.Prereqs(b)
	ft, err := feature.Parse(file)
	if err != nil {
		b.Fatal(err)
	}
	run, err := runner.NewRun()
	if err != nil {
		b.Fatal(err)
	}
	defer run.Close()
	opts := &runner.Options{Provider: netnsprov.New(), ProfilesDir: "../images", PluginDir: plugins, HidextLib: hidext, Run: run}
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
