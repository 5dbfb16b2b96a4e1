package lxdprov_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/execx"
	"lab/harness/lxdprov"
)

// TestCluster builds a 2-member LXD cluster on this machine (each member a
// daemon in its own network namespace, joined by a veth pair, with its own
// LXD_DIR and a private mount namespace), places a cell's node on each
// member with the provider's Target, and runs commands in both.
func TestCluster(t *testing.T) {
	t.Parallel()
	available(t)
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
	members := map[string]*lxdprov.Provider{}
	for _, member := range []string{"m1", "m2"} {
		members[member] = lxdprov.NewWith(lxdprov.Options{Remote: lxdprov.Remote{Name: "cluster", Socket: filepath.Join(m1.dir, "unix.socket"), Target: member}}).(*lxdprov.Provider)
	}
	shutAtEnd(t, members["m1"], members["m2"])
	for _, member := range []string{"m1", "m2"} {
		p := members[member]
		if err := p.Check(ctx); err != nil {
			t.Fatal(err)
		}
		e := env(t, p, "")
		n, err := e.AddNode(ctx, "on-"+member)
		if err != nil {
			logs, _ := filepath.Glob(filepath.Join(dir, "*", "lxd", "logs", "*", "lxc.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
			t.Fatal(err)
		}
		if h := out(t, n, "hostname"); h != "on-"+member {
			t.Errorf("hostname %q", h)
		}
		if u, _ := e.(interface{ Userspace() string }); u == nil || !strings.Contains(u.Userspace(), "cluster member") {
			t.Errorf("the environment does not say it runs on a cluster member")
		}
		loc := m1.run(t, "", "lxc", "list", "--format", "csv", "-c", "nL")
		if !strings.Contains(loc, "-on-"+member+","+member) {
			t.Errorf("node on-%s not placed on %s:\n%s", member, member, loc)
		}
	}
}
