package dockerprov_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/dockerprov"
	"lab/harness/execx"
	"lab/harness/feature"
	"lab/harness/image"
	"lab/harness/kernel"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
	"lab/harness/testenv"
)

// dnatCell returns the dnat-stop-start cell of profile at line (0: the
// first of the profile).
func dnatCell(t testing.TB, profile string, line int) feature.Cell {
	t.Helper()
	ft, err := feature.Parse("../../features/dnat-stop-start.feature")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ft.Cells {
		if c.Profile == profile && (line == 0 || c.Line == line) {
			return c
		}
	}
	t.Fatalf("no dnat-stop-start cell of %s at line %d", profile, line)
	return feature.Cell{}
}

func cellOptions(t testing.TB, p provider.Provider) *runner.Options {
	t.Helper()
	plugins, hidext := testenv.Prereqs(t)
	run, err := runner.NewRun()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left, _ := p.Leftovers(context.Background(), run.Prefix); len(left) > 0 {
			t.Errorf("left after the cell: %v", left)
			_ = p.Remove(context.Background(), run.Prefix)
		}
		run.Close()
	})
	return &runner.Options{Provider: p, ProfilesDir: "../../images", PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(t, testenv.KubeProxyVersions...), HidextLib: hidext,
		Run: run, AgentExe: testenv.Agent(t)}
}

// TestCell runs a whole feature cell on docker through the runner: the
// reproduced dnat-stop-start cell of MicroK8s 1.32.2 gives the netns
// verdict, every host's facts name the node image, nothing is left.
func TestCell(t *testing.T) {
	p := docker(t)
	opts := cellOptions(t, p)
	res := opts.Cell(context.Background(), 0, dnatCell(t, "microk8s-1.32.2", 0)) // its first outline: stop/start
	if res.Status != results.Passed || res.Verdict != results.VerdictReproduced {
		t.Fatalf("cell %s: %s/%s: %s", res.ID, res.Status, res.Verdict, res.Error)
	}
	fp := res.Ran["node1"]["image_fingerprint"]
	if !strings.HasPrefix(fp, "sha256:") || !strings.Contains(res.Ran["node1"]["image"], dockerprov.DefaultImage) {
		t.Errorf("ran.node1: image %q, fingerprint %q", res.Ran["node1"]["image"], fp)
	}
	if !strings.Contains(res.Ran["node1"]["os"], "bookworm") && !strings.Contains(res.Ran["node1"]["os"], "12") {
		t.Errorf("ran.node1.os = %q, want the bookworm image's", res.Ran["node1"]["os"])
	}
	if u := res.Environment["node_userspace"]; !strings.Contains(u, "node images") {
		t.Errorf("environment.node_userspace = %q", u)
	}
	t.Logf("cell %s: %d ms", res.ID, res.DurationMS)
}

// TestHidextOnBullseye loads the kernel-profile library, built on this
// host, in a node of the bullseye image (glibc 2.31): it must not need a
// newer glibc symbol version.
func TestHidextOnBullseye(t *testing.T) {
	p := docker(t)
	r, err := image.Load("../../images/recipes", "debian-bullseye")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := (&image.Store{Root: image.DefaultRoot}).Get(r); !ok {
		t.Skip("node image debian-bullseye is not built; run `lab images build debian-bullseye`")
	}
	testenv.Root(t)
	lib := filepath.Join(t.TempDir(), kernel.LibName)
	if err := kernel.Build(context.Background(), "../kernel/hidext", lib); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pre := prefix(t)
	t.Cleanup(func() { _ = p.Remove(context.Background(), pre) })
	env, err := p.(provider.ImageProvider).NewImageEnv(ctx, pre, "debian-bullseye")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	n, err := env.AddNode(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.CopyIn(ctx, lib, "/run/lab/"+kernel.LibName, 0o644); err != nil {
		t.Fatal(err)
	}
	hide := kernel.Env("/run/lab/"+kernel.LibName, []kernel.Hidden{{Family: "ipv4", Kind: "match", Name: "recent"}})
	env1 := append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, hide...)
	res, err := n.Run(ctx, execx.Cmd{Argv: []string{"iptables-legacy", "-V"}, Env: env1})
	if err != nil || !strings.Contains(string(res.Stdout), "1.8.7") {
		t.Fatalf("iptables-legacy -V with the library preloaded on bullseye: %q, %v", res.Stdout, err)
	}
	// The hidden match fails as on a kernel without it.
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"iptables-legacy", "-A", "INPUT", "-m", "recent", "--name", "x", "--set"}, Env: env1}); err == nil {
		t.Error("-m recent was accepted with the match hidden")
	}
}

// BenchmarkCell times dnat-stop-start cells on docker end to end (boot
// the containers, push the agent, CNI ADD, stop/start, probes, removal).
func BenchmarkCell(b *testing.B) {
	p := docker(b)
	opts := cellOptions(b, p)
	for _, prof := range []string{"microk8s-1.31.6", "microk8s-1.32.2"} {
		c := dnatCell(b, prof, 0)
		b.Run(prof, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if res := opts.Cell(context.Background(), i, c); res.Status != results.Passed {
					b.Fatalf("cell %s: %s: %s", res.ID, res.Status, res.Error)
				}
			}
		})
	}
}
