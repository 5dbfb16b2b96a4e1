package lxdprov_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/feature"
	"lab/harness/lxdprov"
	"lab/harness/provider"
	"lab/harness/results"
	"lab/harness/runner"
)

// startCluster builds a 2-member LXD cluster on this machine (each member
// a daemon in its own network namespace, joined by a veth pair, with its
// own LXD_DIR and a private mount namespace), removed when the test ends.
// It returns the first member (its unix socket reaches the cluster).
func startCluster(t *testing.T) daemon {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lab-lxd-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // registered first: runs after the daemons stopped
	tag := filepath.Base(dir)[len("lab-lxd-cluster-"):]
	ns := []string{"lab-ltest-c" + tag + "-m1", "lab-ltest-c" + tag + "-m2"}
	addrs := []string{"10.213.99.1", "10.213.99.2"}
	host := func(argv ...string) {
		t.Helper()
		if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range ns {
		host("ip", "netns", "add", n)
		t.Cleanup(func() { _, _ = (execx.Host{}).Run(ctx, execx.Cmd{Argv: []string{"ip", "netns", "delete", ns[i]}}) })
		host("ip", "-n", n, "link", "set", "lo", "up")
	}
	host("ip", "-n", ns[0], "link", "add", "m1", "type", "veth", "peer", "name", "m2", "netns", ns[1])
	for i, n := range ns {
		host("ip", "-n", n, "addr", "add", addrs[i]+"/24", "dev", []string{"m1", "m2"}[i])
		host("ip", "-n", n, "link", "set", []string{"m1", "m2"}[i], "up")
	}
	m1 := startDaemon(t, filepath.Join(dir, "m1"), ns[0])
	m1.run(t, "config:\n  core.https_address: "+addrs[0]+":8443\n  core.trust_password: lab-test\ncluster:\n  server_name: m1\n  enabled: true\n"+poolPreseed,
		"lxd", "init", "--preseed")
	cert, err := os.ReadFile(filepath.Join(m1.dir, "cluster.crt"))
	if err != nil {
		t.Fatal(err)
	}
	m2 := startDaemon(t, filepath.Join(dir, "m2"), ns[1])
	m2.run(t, "cluster:\n  enabled: true\n  server_name: m2\n  server_address: "+addrs[1]+":8443\n  cluster_address: "+addrs[0]+":8443\n"+
		"  cluster_password: lab-test\n  cluster_certificate: |\n    "+strings.ReplaceAll(strings.TrimSpace(string(cert)), "\n", "\n    ")+
		"\n  member_config:\n  - entity: storage-pool\n    name: default\n    key: source\n    value: \"\"\n", "lxd", "init", "--preseed")
	if got := m1.run(t, "", "lxc", "cluster", "list", "--format", "csv"); strings.Count(got, "ONLINE") != 2 {
		t.Fatalf("cluster members:\n%s", got)
	}
	return m1
}

// TestCluster reaches a 2-member cluster as a remote of an lxc
// config.yml (as `lab --remote NAME` does), and runs cells through the
// runner's pool at -j 2 per member: every cell records the member it was
// placed on, both members run two cells at once, the nodes really are on
// that member (LXD's own location), and the verdicts are those of the
// features. Nothing of the run is left on the cluster.
func TestCluster(t *testing.T) {
	t.Parallel()
	available(t) // the local daemon answers and the image is built
	ctx := context.Background()
	m1 := startCluster(t)
	conf := t.TempDir()
	yml := fmt.Sprintf("remotes:\n  labcluster:\n    addr: unix://%s\n    protocol: lxd\n", filepath.Join(m1.dir, "unix.socket"))
	if err := os.WriteFile(filepath.Join(conf, lxdprov.LXDConfigFile), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := lxdprov.LoadRemote("labcluster", []string{conf})
	if err != nil {
		t.Fatal(err)
	}
	p := shutAtEnd(t, lxdprov.NewOn(r).(*lxdprov.Provider))
	if err := p.Check(ctx); err != nil {
		t.Fatal(err)
	}
	ms, err := p.Members(ctx)
	if err != nil || strings.Join(ms, " ") != "m1 m2" {
		t.Fatalf("members %v, %v", ms, err)
	}
	opts, cells := clusterCells(t, p)
	const perMember = 2
	// Two cells x 2 attempts: four at once, two on each member.
	jobs := runner.Expand(cells, []provider.Provider{p}, 2, 1)
	// The nodes' location, read from LXD (`lxc list`) while the cells run.
	located := map[string]string{}
	stop, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		for {
			res, _ := (execx.Host{}).Run(ctx, execx.Cmd{Argv: []string{"lxc", "list", "--format", "csv", "-c", "nL"}, Env: m1.env})
			for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
				if name, loc, ok := strings.Cut(line, ","); ok && !strings.Contains(name, "-base-") {
					located[name] = loc
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	res := opts.RunJobs(ctx, jobs, perMember*len(ms), nil)
	close(stop)
	<-polled
	if len(res) != len(jobs) {
		t.Fatalf("%d results of %d jobs", len(res), len(jobs))
	}
	used := map[string]int{}
	maxLoad := map[string]string{}
	for _, c := range res {
		member := c.Environment["lxd_member"]
		t.Logf("%s on %s: %s (%s; %d ms)", c.ID, member, c.Verdict, c.Environment["lxd_member_load"], c.DurationMS)
		want := map[string]string{"ubuntu-22.04": results.VerdictClean, "microk8s-1.29-wsl2-stock": results.VerdictReproduced}[c.Profile]
		if c.Verdict != want {
			t.Errorf("%s on %s: %s, want %s (%s): %s", c.ID, member, c.Verdict, want, c.Status, c.Error)
		}
		used[member]++
		if l := c.Environment["lxd_member_load"]; l > maxLoad[member] {
			maxLoad[member] = l
		}
		if !strings.Contains(c.Environment["node_userspace"], "placed on member "+member) {
			t.Errorf("%s: node_userspace %q does not name member %s", c.ID, c.Environment["node_userspace"], member)
		}
	}
	if used["m1"] != 2 || used["m2"] != 2 {
		t.Errorf("cells per member %v, want 2 on each", used)
	}
	for _, m := range ms {
		if !strings.HasPrefix(maxLoad[m], fmt.Sprint(perMember)+" ") {
			t.Errorf("member %s never ran %d cells at once (%q)", m, perMember, maxLoad[m])
		}
	}
	for name, loc := range located {
		if loc != "m1" && loc != "m2" {
			t.Errorf("instance %s located on %q", name, loc)
		}
	}
	if len(located) == 0 {
		t.Error("no node seen on the cluster while the cells ran")
	}
	if err := p.WaitTeardowns(ctx); err != nil {
		t.Error(err)
	}
	if left, _ := p.Leftovers(ctx, opts.Run.Prefix+"-"); len(left) > 0 {
		// the bases go at Shutdown; nothing of a cell stays
		for _, l := range left {
			if !strings.Contains(l, "-base-") {
				t.Errorf("left after the cells: %s", l)
			}
		}
	}
}

// clusterCells are two light cells (no firewalld): rhel-firewalld on
// ubuntu-22.04 (clean) and wsl2-missing-modules on the stock WSL2 kernel
// (reproduced), with runner options on p and a cell timeout for a machine
// this loaded.
func clusterCells(t *testing.T, p *lxdprov.Provider) (*runner.Options, []feature.Cell) {
	opts, all := cellOptions(t, p, "rhel-firewalld", "wsl2-missing-modules")
	opts.Timeout = 6 * time.Minute
	var cells []feature.Cell
	for _, want := range []string{"ubuntu-22.04", "microk8s-1.29-wsl2-stock"} {
		for _, c := range all {
			if c.Profile == want {
				cells = append(cells, c)
				break
			}
		}
	}
	if len(cells) != 2 {
		t.Fatalf("cells %v", cells)
	}
	return opts, cells
}
