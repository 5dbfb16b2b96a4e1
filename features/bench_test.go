package features

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lab/harness/feature"
	"lab/harness/netnsprov"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// Benchmarks of the lab's performance targets (`make bench` prints them as
// one table; targets are never asserted in tests). Each reports medians as
// custom metrics: median-s/cell, median-s/matrix, peak-rss-MB, ratio.

func median(ds []time.Duration) float64 {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2].Seconds()
}

// allCells returns every cell of every feature file.
func allCells(b *testing.B) []feature.Cell { return allCellsT(b) }

// allCellsT returns every cell of every feature file.
func allCellsT(b testing.TB) []feature.Cell {
	cells, err := feature.Cells("*.feature")
	if err != nil {
		b.Fatal(err)
	}
	return cells
}

// BenchmarkCell times every cell of every feature end to end on netns
// (boot the nodes and agents, the steps, the facts, teardown); target:
// median cell under 300 ms, reproduced cells under 1 s.
func BenchmarkCell(b *testing.B) {
	opts := cellOptions(b, "../images")
	for i, c := range allCells(b) {
		b.Run(c.Scenario+"/"+c.Profile+"/L"+itoa(c.Line), func(b *testing.B) {
			var times []time.Duration
			reproduced := 0.0
			for n := 0; n < b.N; n++ {
				t0 := time.Now()
				res := opts.Cell(context.Background(), i, c)
				if res.Status != results.Passed {
					b.Fatalf("cell %s: %s: %s", res.ID, res.Status, res.Error)
				}
				times = append(times, time.Since(t0))
				if res.Reproduced != nil && *res.Reproduced {
					reproduced = 1
				}
			}
			b.ReportMetric(median(times), "median-s/cell")
			// benchtable gives a reproduced cell the 1 s target
			b.ReportMetric(reproduced, "reproduced")
		})
	}
}

// BenchmarkMatrix runs the whole netns matrix with -j1 and -j2 (target:
// under 5 s at -j2, speedup at least 1.7x).
func BenchmarkMatrix(b *testing.B) {
	plugins, hidext := testenv.Prereqs(b)
	cells := allCells(b)
	for _, j := range []int{1, 2} {
		b.Run("j"+itoa(j), func(b *testing.B) {
			var times []time.Duration
			for n := 0; n < b.N; n++ {
				run, err := runner.NewRun()
				if err != nil {
					b.Fatal(err)
				}
				opts := &runner.Options{ProfilesDir: "../images", PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(b, testenv.KubeProxyVersions...), HidextLib: hidext, Run: run}
				jobs := runner.Expand(cells, []provider.Provider{netnsprov.New()}, 1, uint64(n+1))
				if n == 0 {
					// The figure means little without the machine's load.
					b.ReportMetric(load1(), "load1")
				}
				t0 := time.Now()
				for _, res := range opts.RunJobs(context.Background(), jobs, j, nil) {
					if results.Bad(res.Verdict) {
						b.Errorf("cell %s: %s: %s", res.ID, res.Verdict, res.Error)
					}
				}
				times = append(times, time.Since(t0))
				run.Close()
			}
			b.ReportMetric(median(times), "median-s/matrix")
			b.ReportMetric(float64(len(cells)), "cells/op")
		})
	}
}

// load1 is the machine's 1-minute load average (0 when unreadable).
func load1() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// labBinary builds the lab binary (static, as `make build` does) once.
func labBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "lab")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/lab")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build lab: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkPeakRSS runs `lab matrix -j 2` as a process and reports its peak
// resident set (target: under 100 MB).
func BenchmarkPeakRSS(b *testing.B) {
	testenv.Prereqs(b)
	bin := labBinary(b)
	var peak int64
	for n := 0; n < b.N; n++ {
		cmd := exec.Command(bin, "matrix", "-j", "2", "--out", b.TempDir())
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("lab matrix: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
			peak = ru.Maxrss
		}
	}
	b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
}

// BenchmarkBaseline times the lab's reproduced dnat-stop-start cell (1.32.2)
// and harness/bench/baseline/dnat-stop-start.sh, the same reproduction by
// hand, alternately in one run; it reports both medians and lab/shell
// (target: at most 0.5).
func BenchmarkBaseline(b *testing.B) {
	plugins, _ := testenv.Prereqs(b)
	ft, err := feature.Parse("dnat-stop-start.feature")
	if err != nil {
		b.Fatal(err)
	}
	var cell feature.Cell
	for _, c := range ft.Cells {
		if c.Profile == "microk8s-1.32.2" && strings.Contains(c.Name, "two hostPort pods") {
			cell = c
		}
	}
	opts := cellOptions(b, "../images")
	prof, err := profile.Load("../images", cell.Profile)
	if err != nil {
		b.Fatal(err)
	}
	// The script calls the plugins at the version the lab's cell pushes.
	plugins = filepath.Join(plugins, prof.CNI.PluginsVersion)
	script := "../harness/bench/baseline/dnat-stop-start.sh"
	var lab, shell []time.Duration
	for n := 0; n < b.N; n++ {
		t0 := time.Now()
		if res := opts.Cell(context.Background(), n, cell); res.Verdict != results.VerdictReproduced {
			b.Fatalf("lab cell %s: %s: %s", res.ID, res.Verdict, res.Error)
		}
		lab = append(lab, time.Since(t0))
		t0 = time.Now()
		if out, err := exec.Command("bash", script, plugins).CombinedOutput(); err != nil {
			b.Fatalf("baseline script did not reproduce: %v\n%s", err, out)
		}
		shell = append(shell, time.Since(t0))
	}
	l, s := median(lab), median(shell)
	b.ReportMetric(l, "lab-s")
	b.ReportMetric(s, "shell-s")
	b.ReportMetric(l/s, "ratio")
}
