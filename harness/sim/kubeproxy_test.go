package sim

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/kubeproxy"
	"lab/harness/profile"
	"lab/harness/testenv"
)

// kubeProxyCell boots node1 with a routed pod "web" serving 8080, a client
// pod, and returns the Service "web" (ClusterIP 10.152.183.20:80) for it.
func kubeProxyCell(t *testing.T, c *Cluster, affinity bool) (*Node, Source, kubeproxy.Service) {
	t.Helper()
	ctx := context.Background()
	n, r, web := routedPod(t, c, "web", 8080)
	if _, err := r.AddPod(ctx, "client", 0); err != nil {
		t.Fatal(err)
	}
	src, err := c.Source("client")
	if err != nil {
		t.Fatal(err)
	}
	ip, _ := web.Addr(4)
	svc := kubeproxy.Service{Namespace: "default", Name: "web", PortName: "http", ClusterIP: netip.MustParseAddr("10.152.183.20"),
		Port: 80, Endpoints: []kubeproxy.Endpoint{{IP: ip, Port: 8080}}, ClientIPAffinity: affinity}
	return n, src, svc
}

// natRules returns the node's nat table (the profile's variant).
func natRules(t *testing.T, n *Node) string {
	t.Helper()
	out, err := execx.Output(context.Background(), n, "iptables-save", "-t", "nat")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRealKubeProxy runs the profile's kube-proxy (Kubernetes v1.32.2's
// iptables Proxier) in a node: its rules appear for the fed Service, a pod
// reaches the Service's ClusterIP, and after the tables are flushed its
// canary monitor notices and re-syncs.
func TestRealKubeProxy(t *testing.T) {
	c := newCluster(t, "microk8s-1.32-calico")
	n, src, svc := kubeProxyCell(t, c, false)
	ctx := context.Background()
	k, err := n.RunKubeProxy(ctx, kubeproxy.Config{ClusterCIDR: testPool}, []kubeproxy.Service{svc})
	if err != nil {
		t.Fatalf("kube-proxy: %v\n%s", err, k.Log())
	}
	nat := natRules(t, n)
	for _, re := range []string{
		`-A KUBE-SERVICES -d 10\.152\.183\.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-[A-Z0-9]{16}`,
		`-A KUBE-SVC-[A-Z0-9]{16} .*-j KUBE-SEP-[A-Z0-9]{16}`,
		`-A KUBE-SEP-[A-Z0-9]{16} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10\.1\.\d+\.\d+:8080`,
		`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
	} {
		if !regexp.MustCompile(re).MatchString(nat) {
			t.Errorf("nat table lacks %s:\n%s", re, nat)
		}
	}
	if r := src.HTTP(ctx, "http://10.152.183.20:80/", 5*time.Second); r.Outcome != "200" {
		t.Errorf("GET the ClusterIP from a pod = %s (%s), want 200", r.Outcome, r.Detail)
	}
	if !strings.Contains(k.Log(), `"Kubernetes Proxier without an API server" version="v1.32.2" mode="iptables"`) {
		t.Errorf("kube-proxy's log does not name v1.32.2:\n%s", k.Log())
	}

	// A changed file: kube-proxy re-reads it and syncs the new Service
	// (a partial sync: no flush, no new canary).
	two := svc
	two.Name, two.ClusterIP = "two", netip.MustParseAddr("10.152.183.21")
	n1, _ := k.Syncs()
	if _, err := n.RunKubeProxy(ctx, kubeproxy.Config{ClusterCIDR: testPool}, []kubeproxy.Service{svc, two}); err != nil {
		t.Fatalf("update: %v\n%s", err, k.Log())
	}
	if n2, _ := k.Syncs(); n2 <= n1 || !strings.Contains(natRules(t, n), `"default/two:http cluster IP"`) {
		t.Errorf("after the update: syncs %d -> %d, nat:\n%s", n1, n2, natRules(t, n))
	}
	if r := src.HTTP(ctx, "http://10.152.183.21:80/", 5*time.Second); r.Outcome != "200" {
		t.Errorf("GET the new ClusterIP = %s (%s), want 200", r.Outcome, r.Detail)
	}

	// A flush as firewalld's does it: every rule and chain of the tables.
	before, _ := k.Syncs()
	for _, table := range []string{"nat", "filter", "mangle"} {
		if _, err := execx.Output(ctx, n, "sh", "-c", "iptables -t "+table+" -F && iptables -t "+table+" -X"); err != nil {
			t.Fatal(err)
		}
	}
	if k.CanaryPresent(ctx) {
		t.Fatal("canary survived the flush")
	}
	waited, err := k.Resume(ctx) // not paused: waits for the monitor (sync period 30 s)
	if err != nil {
		t.Fatalf("%v\n%s", err, k.Log())
	}
	after, last := k.Syncs()
	t.Logf("re-synced %v after the flush; syncs %d -> %d", waited, before, after)
	if after <= before || last != nil {
		t.Errorf("syncs %d -> %d, last error %v; want a successful re-sync", before, after, last)
	}
	if !strings.Contains(natRules(t, n), "KUBE-SVC-") {
		t.Error("Service rules not restored after the re-sync")
	}
	if r := src.HTTP(ctx, "http://10.152.183.20:80/", 5*time.Second); r.Outcome != "200" {
		t.Errorf("GET the ClusterIP after the re-sync = %s (%s), want 200", r.Outcome, r.Detail)
	}
}

// TestRealKubeProxyOnceMissingRecent: under the stock WSL2 kernel profile
// (no xt_recent), kube-proxy v1.29.15's first sync of a ClientIP-affinity
// Service fails with iptables' own text, and nothing of the nat restore is
// committed: the Service's chains are absent.
func TestRealKubeProxyOnceMissingRecent(t *testing.T) {
	c := newCluster(t, "microk8s-1.29-wsl2-stock")
	n, src, svc := kubeProxyCell(t, c, true)
	ctx := context.Background()
	out, err := n.KubeProxyOnce(ctx, kubeproxy.Config{ClusterCIDR: testPool}, []kubeproxy.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != "v1.29.15" {
		t.Errorf("version %s, want v1.29.15", out.Version)
	}
	want := "Warning: Extension recent revision 0 not supported, missing kernel module?"
	if out.Err == nil || !strings.Contains(out.Err.Error(), want) {
		t.Fatalf("sync error %v, want one containing %q\nlog:\n%s", out.Err, want, out.Log)
	}
	if !strings.Contains(out.Restore, "-m recent") {
		t.Errorf("restore input has no -m recent rule:\n%s", out.Restore)
	}
	if nat := natRules(t, n); strings.Contains(nat, "KUBE-SVC-") {
		t.Errorf("a failed restore left Service chains:\n%s", nat)
	}
	if r := src.HTTP(ctx, "http://10.152.183.20:80/", 2*time.Second); r.Outcome == "200" {
		t.Error("the Service answers although kube-proxy's restore failed")
	}
}

// BenchmarkKubeProxyOnce times one kube-proxy start with its first full
// sync of 50 Services in a node (v1.32.2, the profile's iptables-legacy).
func BenchmarkKubeProxyOnce(b *testing.B) {
	plugins, hidext := testenv.Prereqs(b)
	p, err := profile.Load("../../images", "microk8s-1.32-calico")
	if err != nil {
		b.Fatal(err)
	}
	c := New(testenv.Env(b), p, Options{StateDir: b.TempDir(), PluginDir: plugins, KubeProxyDir: testenv.KubeProxy(b, p.MicroK8s.Kubernetes), HidextLib: hidext})
	b.Cleanup(c.Close)
	ctx := context.Background()
	n, err := c.AddNode(ctx, "node1")
	if err != nil {
		b.Fatal(err)
	}
	var svcs []kubeproxy.Service
	for i := range 50 {
		svcs = append(svcs, kubeproxy.Service{Namespace: "default", Name: fmt.Sprintf("svc%d", i), PortName: "http",
			ClusterIP: netip.AddrFrom4([4]byte{10, 152, 183, byte(10 + i)}), Port: 80,
			Endpoints: []kubeproxy.Endpoint{{IP: netip.AddrFrom4([4]byte{10, 1, 0, byte(10 + i)}), Port: 8080}}})
	}
	b.ResetTimer()
	for range b.N {
		out, err := n.KubeProxyOnce(ctx, kubeproxy.Config{ClusterCIDR: testPool}, svcs)
		if err != nil || out.Err != nil {
			b.Fatal(err, out.Err)
		}
	}
}
