package lxdprov_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/feature"
	"lab/harness/locate"
	"lab/harness/lxdprov"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// cellOptions are runner options on p with the static agent, in a run of
// their own, and the cells of the features named (all when none).
func cellOptions(t testing.TB, p *lxdprov.Provider, features ...string) (*runner.Options, []feature.Cell) {
	t.Helper()
	plugins, hidext := testenv.Prereqs(t)
	root, err := locate.Root()
	if err != nil {
		t.Fatal(err)
	}
	if len(features) == 0 {
		features = []string{"*"}
	}
	var cells []feature.Cell
	for _, name := range features {
		cs, err := feature.Cells(filepath.Join(root, "features", name+".feature"))
		if err != nil {
			t.Fatal(err)
		}
		cells = append(cells, cs...)
	}
	run, err := runner.NewRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	return &runner.Options{Provider: p, ProfilesDir: filepath.Join(root, "images"), PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(t, testenv.KubeProxyVersions...),
		HidextLib: hidext, Run: run, AgentExe: testenv.StaticAgent(t)}, cells
}

// cell returns the first rhel-firewalld cell of profile and runner options
// on p.
func cell(t testing.TB, p *lxdprov.Provider, profile string) (*runner.Options, feature.Cell) {
	t.Helper()
	opts, cells := cellOptions(t, p, "rhel-firewalld")
	for _, c := range cells {
		if c.Profile == profile {
			return opts, c
		}
	}
	t.Fatalf("no rhel-firewalld cell for %s", profile)
	return nil, feature.Cell{}
}

// TestCell runs a whole cell on LXD (rhel-firewalld on rhel-9.5: firewalld
// rejects the routed pod traffic) with the static agent, checks the verdict
// and that the node's facts are the image's own, and that nothing of the
// cell is left.
func TestCell(t *testing.T) {
	t.Parallel()
	p := available(t)
	opts, c := cell(t, p, "rhel-9.5")
	res := opts.Cell(context.Background(), 0, c)
	if res.Verdict != results.VerdictReproduced {
		t.Fatalf("verdict %s (%s): %s", res.Verdict, res.Status, res.Error)
	}
	ran := res.Ran["node1"]
	if !strings.HasPrefix(ran["firewalld"], "1.3.3") || !strings.Contains(ran["os"], "bookworm") || ran["nft"] == "" {
		t.Errorf("node1 ran %v; want the bookworm image's firewalld 1.3.3 and nft", ran)
	}
	if !strings.HasPrefix(ran["image"], "debian-bookworm-") || len(ran["image_fingerprint"]) != 64 {
		t.Errorf("node1 ran image %q, fingerprint %q; want the bookworm node image and its LXD fingerprint", ran["image"], ran["image_fingerprint"])
	}
	if !strings.Contains(res.Environment["node_userspace"], "debian-bookworm") {
		t.Errorf("node_userspace = %q", res.Environment["node_userspace"])
	}
	// The cell's instances and networks are gone once its teardown (in
	// the background) has ended; the run's base stays until the run ends.
	if err := p.WaitTeardowns(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left, _ := p.Leftovers(context.Background(), opts.Run.Prefix+"-0-"); len(left) > 0 {
		t.Errorf("left after the cell: %v", left)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left, _ := p.Leftovers(context.Background(), opts.Run.Prefix); len(left) > 0 {
		t.Errorf("left after the run: %v", left)
	}
}

// BenchmarkLXDCell times one LXD cell (rhel-firewalld on ubuntu-22.04:
// two nodes, firewalld off) cold (the run's base prepared first from the
// imported image; the import, a cache shared with other runs, is not
// redone) and reused (nodes copied from the run's prepared
// snapshot), the latter with commands and copies through nsenter (the
// default) and through LXD's exec and file APIs. As in a run, a cell's
// time ends with its verdict: its instances and networks are deleted in
// the background (the run's Shutdown waits for them; the benchmark's last
// wait is not timed), overlapping the next cell; and a reused cell takes
// the containers the cell before it made ahead for it (nextcell.go),
// whose making overlapped that cell. Target: reused under 3 s.
func BenchmarkLXDCell(b *testing.B) {
	available(b)
	for _, mode := range []string{"cold", "reused", "reused-api"} {
		b.Run(mode, func(b *testing.B) {
			p := shutAtEnd(b, lxdprov.NewWith(lxdprov.Options{NsenterExec: mode != "reused-api"}).(*lxdprov.Provider))
			opts, c := cell(b, p, "ubuntu-22.04")
			if mode != "cold" { // the run's base, prepared by a first cell
				if res := opts.Cell(context.Background(), 0, c); results.Bad(res.Verdict) {
					b.Fatalf("cell: %s: %s", res.Verdict, res.Error)
				}
			}
			var total time.Duration
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				if mode == "cold" { // the run's base goes; the imported image (a shared cache) stays
					b.StopTimer()
					if err := p.Shutdown(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				start := time.Now()
				res := opts.Cell(context.Background(), n+1, c)
				total += time.Since(start)
				if results.Bad(res.Verdict) {
					b.Fatalf("cell: %s: %s", res.Verdict, res.Error)
				}
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/cell")
		})
	}
}
