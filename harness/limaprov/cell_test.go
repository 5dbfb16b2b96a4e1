package limaprov_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"lab/harness/feature"
	"lab/harness/limaprov"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// The benchmark's provider lives for the whole test binary, so the VM one
// benchmark run boots is reused by the next (Go runs a benchmark first
// with N=1, then with the N asked for); TestMain shuts it down.
var bench struct {
	once sync.Once
	p    *limaprov.Provider
	opts *runner.Options
	cell feature.Cell
	cold time.Duration
	err  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.p != nil {
		if err := bench.p.Shutdown(context.Background()); err != nil {
			os.Stderr.WriteString("lima benchmark: shutdown: " + err.Error() + "\n")
			code = 1
		}
		bench.opts.Run.Close()
	}
	os.Exit(code)
}

// BenchmarkLimaCell times a whole cell on a lima VM, end to end through
// the runner: the reproduced wsl2-missing-modules cell of
// microk8s-1.29-wsl2-stock (a single-host cell; the kernel profile's
// modules are removed from the VM's kernel). The first cell of the
// binary boots the VM (cold-s: boot + cell); every later one gets it
// reset, not rebooted (reused-s, their mean). It needs real VMs
// (LAB_LIMA_TEST=1, as `make bench` sets) and skips otherwise.
func BenchmarkLimaCell(b *testing.B) {
	p := vmProvider(b)
	bench.once.Do(func() {
		ft, err := feature.Parse("../../features/wsl2-missing-modules.feature")
		if err != nil {
			bench.err = err.Error()
			return
		}
		for _, c := range ft.Cells {
			if c.Profile == "microk8s-1.29-wsl2-stock" {
				bench.cell = c
				break
			}
		}
		if bench.cell.Profile == "" {
			bench.err = "no microk8s-1.29-wsl2-stock cell in wsl2-missing-modules.feature"
			return
		}
		plugins, hidext := testenv.Prereqs(b)
		run, err := runner.NewRun()
		if err != nil {
			bench.err = err.Error()
			return
		}
		bench.p = p
		bench.opts = &runner.Options{Provider: p, ProfilesDir: "../../images", PluginDir: plugins,
			KubeProxyDir: testenv.KubeProxy(b, testenv.KubeProxyVersions...), HidextLib: hidext, Run: run, AgentExe: testenv.Agent(b)}
	})
	if bench.err != "" {
		b.Fatal(bench.err)
	}
	var reused time.Duration
	n := 0
	for i := 0; i < b.N; i++ {
		boots := len(bench.p.Boots)
		start := time.Now()
		res := bench.opts.Cell(context.Background(), i, bench.cell)
		took := time.Since(start)
		if res.Status != results.Passed || res.Verdict != results.VerdictReproduced {
			var steps strings.Builder
			for _, s := range res.Steps {
				steps.WriteString(s.Status + " " + s.Text + " " + s.Error + "\n")
			}
			b.Fatalf("cell %s: %s, verdict %s: %s\n%s", res.ID, res.Status, res.Verdict, res.Error, steps.String())
		}
		if len(bench.p.Boots) > boots {
			bench.cold = took
			b.Logf("cold cell (VM boot %.0f s) %s", bench.p.Boots[len(bench.p.Boots)-1].Seconds, took.Round(time.Second))
			continue
		}
		reused += took
		n++
	}
	if bench.cold > 0 {
		b.ReportMetric(bench.cold.Seconds(), "cold-s")
	}
	if n > 0 {
		b.ReportMetric(reused.Seconds()/float64(n), "reused-s")
	}
}
