package main

import (
	"io"
	"strings"
	"testing"
)

func TestRows(t *testing.T) {
	in := `goos: linux
BenchmarkCell/dnat-stop-start/microk8s-1.31.6/L33-2   	3	1 ns/op	0.25 median-s/cell
BenchmarkCell/dnat-stop-start/microk8s-1.32.2/L34-2   	3	1 ns/op	1.30 median-s/cell
BenchmarkCell/dnat-stop-start/microk8s-1.32.2/L35-2   	3	1 ns/op	0.90 median-s/cell	1 reproduced
BenchmarkCell/dnat-stop-start/microk8s-1.32.3/L36-2   	3	1 ns/op	0.40 median-s/cell	0 reproduced
BenchmarkMatrix/j1-2 	1	1 ns/op	9.0 median-s/matrix	19 cells/op
BenchmarkMatrix/j2-2 	1	1 ns/op	6.0 median-s/matrix	19 cells/op	3.5 load1
BenchmarkPeakRSS-2 	1	1 ns/op	42.5 peak-rss-MB
BenchmarkBaseline-2 	3	1 ns/op	1.2 lab-s	0.6 ratio	2.0 shell-s
BenchmarkLXDCell/cold-2 	3	1 ns/op	20.1 s/cell
BenchmarkLXDCell/reused-2 	3	1 ns/op	4.5 s/cell
BenchmarkLXDCell/reused-api-2 	3	1 ns/op	9.0 s/cell
BenchmarkLXDMatrix/j2-2 	1	1 ns/op	120 s/matrix	27 cells/op	1.5 median-s/dnat-stop-start	2.5 median-s/calico-dualstack-kernel
pkg: lab/harness/dockerprov
BenchmarkCell/microk8s-1.32.2-2 	3	4600000000 ns/op
BenchmarkDockerMatrix/j2-2 	1	1 ns/op	60 s/matrix	24 cells/op	2.25 median-s/dnat-stop-start
pkg: lab/harness/limaprov
BenchmarkLimaCell-2 	3	1 ns/op	150.5 cold-s	20.25 reused-s
`
	b, order := parse(strings.NewReader(in), io.Discard)
	got := map[string]row{}
	for _, r := range rows(b, order) {
		got[r.figure] = r
	}
	for fig, want := range map[string]string{
		"cell dnat-stop-start/microk8s-1.31.6/L33":         "met",
		"cell dnat-stop-start/microk8s-1.32.2/L34":         "MISSED",
		"cell dnat-stop-start/microk8s-1.32.2/L35":         "met",
		"cell dnat-stop-start/microk8s-1.32.3/L36":         "MISSED",
		"median netns cell (of the cells' medians)":        "MISSED",
		"whole netns matrix -j2":                           "MISSED",
		"speedup -j2 over -j1":                             "MISSED",
		"lab peak RSS (lab matrix -j 2)":                   "met",
		"lab / shell":                                      "MISSED",
		"lxd cell reused (copied from the run's base)":     "MISSED",
		"lxd cell cold (image import + run's base + cell)": "",
		"lxd matrix -j2 (27 cells)":                        "",
	} {
		if got[fig].status != want {
			t.Errorf("%s: %+v, want %s", fig, got[fig], want)
		}
	}
	if got["lxd cell reused (copied from the run's base)"].value != "4.50 s" || got["lxd matrix -j2 (27 cells)"].value != "120.00 s" {
		t.Errorf("lxd rows: %+v", got)
	}
	if got["machine load (1-min average) when the -j2 matrix began"].value != "3.50 " {
		t.Errorf("load row = %+v", got["machine load (1-min average) when the -j2 matrix began"])
	}
	if r := got["docker cell dnat-stop-start microk8s-1.32.2 (boot to removal)"]; r.value != "4.60 s" {
		t.Errorf("docker cell row = %+v", r)
	}
	if _, ok := got["cell microk8s-1.32.2"]; ok {
		t.Error("the docker cell was shown as a netns cell")
	}
	if got["lima VM cell cold (VM boot + cell)"].value != "150.50 s" || got["lima VM cell reused (the VM reset, not rebooted)"].value != "20.25 s" {
		t.Errorf("lima rows: %+v", got)
	}
	if got["median netns cell (of the cells' medians)"].value != "0.90 s" {
		t.Errorf("median netns cell = %+v (only the netns cells count)", got["median netns cell (of the cells' medians)"])
	}
	for fig, want := range map[string]string{
		"lxd median cell, dnat-stop-start":         "1.50 s",
		"lxd median cell, calico-dualstack-kernel": "2.50 s",
		"docker median cell, dnat-stop-start":      "2.25 s",
		"docker matrix -j2 (24 cells)":             "60.00 s",
	} {
		if got[fig].value != want {
			t.Errorf("%s = %+v, want %s", fig, got[fig], want)
		}
	}
	if got["speedup -j2 over -j1"].value != "1.50 x" {
		t.Errorf("speedup = %q", got["speedup -j2 over -j1"].value)
	}
}
