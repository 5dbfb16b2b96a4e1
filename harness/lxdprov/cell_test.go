package lxdprov_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/locate"
	"lab/harness/lxdprov"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// cell returns the rhel-firewalld cell of profile and runner options on p
// with the static agent.
func cell(t testing.TB, p *lxdprov.Provider, profile string) (*runner.Options, feature.Cell) {
	t.Helper()
	plugins, hidext := testenv.Prereqs(t)
	root, err := locate.Root()
	if err != nil {
		t.Fatal(err)
	}
	ft, err := feature.Parse(filepath.Join(root, "features", "rhel-firewalld.feature"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := runner.NewRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	opts := &runner.Options{Provider: p, ProfilesDir: filepath.Join(root, "images"), PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(t, testenv.KubeProxyVersions...),
		HidextLib: hidext, Run: run, AgentExe: testenv.StaticAgent(t)}
	for _, c := range ft.Cells {
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
	if !strings.Contains(res.Environment["node_userspace"], "debian-bookworm") {
		t.Errorf("node_userspace = %q", res.Environment["node_userspace"])
	}
	// The cell's instances and networks are gone; the run's base stays
	// until the run ends.
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

// BenchmarkCell times one LXD cell (rhel-firewalld on ubuntu-22.04: two
// nodes, firewalld off) cold (the node image imported and its base
// prepared first) and reused (nodes copied from the prepared snapshot),
// the latter with commands through LXD's exec API and through nsenter.
// Target: reused under 3 s.
func BenchmarkCell(b *testing.B) {
	p := available(b)
	for _, mode := range []string{"cold", "reused", "reused-nsenter"} {
		b.Run(mode, func(b *testing.B) {
			p := p
			if mode == "reused-nsenter" {
				p = shutAtEnd(b, lxdprov.NewWith(lxdprov.Options{NsenterExec: true}).(*lxdprov.Provider))
			}
			opts, c := cell(b, p, "ubuntu-22.04")
			for n := 0; n < b.N; n++ {
				if mode == "cold" {
					b.StopTimer()
					if err := p.Forget(context.Background(), lxdprov.DefaultImage); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				res := opts.Cell(context.Background(), n, c)
				if results.Bad(res.Verdict) {
					b.Fatalf("cell: %s: %s", res.Verdict, res.Error)
				}
			}
		})
	}
}
