package sim

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/execx"
	"lab/harness/kubeproxy"
	"lab/harness/probe"
	"lab/harness/profile"
	"lab/harness/testenv"
)

// newCluster boots an empty cluster with a profile from images/, torn down
// when the test ends.
func newCluster(t *testing.T, prof string) *Cluster {
	t.Helper()
	plugins, hidext := testenv.Prereqs(t)
	p, err := profile.Load("../../images", prof)
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.Env(t)
	kp := testenv.KubeProxy(t, p.MicroK8s.Kubernetes)
	c := New(env, p, Options{StateDir: t.TempDir(), PluginDir: plugins, KubeProxyDir: kp, HidextLib: hidext})
	t.Cleanup(c.Close) // runs before the env's cleanup (registered earlier)
	return c
}

// testPool is the pod CIDR of the routed test nodes.
var testPool = netip.MustParsePrefix("10.1.0.0/16")

// routedPod boots node1 with Calico-style routed pods from testPool and one
// pod serving HTTP on port (0: none).
func routedPod(t *testing.T, c *Cluster, pod string, port int) (*Node, *RoutedNet, *RoutedPod) {
	t.Helper()
	ctx := context.Background()
	n, err := c.AddNode(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := n.EnableRouted(ctx, []netip.Prefix{testPool})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.AddPod(ctx, pod, port)
	if err != nil {
		t.Fatal(err)
	}
	return n, r, p
}

// ingressCell builds #4903's topology on a Calico node: an app pod on 8080
// behind ClusterIP 10.152.183.39:80, an ingress pod proxying the reported
// path /setup to the pod IP, published on hostPorts 80 and 443 as
// MicroK8s' ingress addon does (the real portmap plugin), and a client on
// the public network. It returns a function probing a path on the node's
// port 80 and one probing the Service straight from the ingress pod (the
// same source and backend as /setup, through the Service's DNAT).
func ingressCell(t *testing.T, c *Cluster) (n *Node, get func(path string) probe.Result, svc func() probe.Result) {
	t.Helper()
	ctx := context.Background()
	n, r, app := routedPod(t, c, "zeus", 8080)
	appIP, _ := app.Addr(4)
	svcIP := netip.MustParseAddr("10.152.183.39")
	in, err := r.AddIngressPod(ctx, "ingress", []cni.PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 443, ContainerPort: 443, Protocol: "tcp"}}, []IngressRoute{
		{Path: "/setup", Upstream: netip.AddrPortFrom(appIP, 8080), Via: "pod zeus"},
	})
	if err != nil {
		t.Fatal(err)
	}
	svcs := []kubeproxy.Service{
		{Namespace: "default", Name: "zeus", PortName: "http", ClusterIP: svcIP, Port: 80, Endpoints: []kubeproxy.Endpoint{{IP: appIP, Port: 8080}}},
	}
	if _, err := n.RunKubeProxy(ctx, kubeproxy.Config{ClusterCIDR: testPool}, svcs); err != nil {
		t.Fatal(err)
	}
	client, err := c.AddClient(ctx, "client")
	if err != nil {
		t.Fatal(err)
	}
	get = func(path string) probe.Result {
		return Source{Host: client}.HTTP(ctx, fmt.Sprintf("http://%s:80%s", n.Public, path), 2*time.Second)
	}
	svc = func() probe.Result {
		return Source{Host: n, Pod: in.NS, Name: "ingress"}.HTTP(ctx, "http://10.152.183.39:80/", time.Second)
	}
	return n, get, svc
}

func TestIngressWithoutFirewalld(t *testing.T) {
	c := newCluster(t, "ubuntu-22.04")
	n, get, svc := ingressCell(t, c)
	if _, ok := n.Firewalld(); ok {
		t.Fatal("ubuntu-22.04 node runs firewalld")
	}
	if r := get("/setup"); r.Outcome != "200" || !strings.Contains(r.Detail, "pod zeus") {
		t.Errorf("GET /setup on hostPort 80 = %s (%s), want 200 from pod zeus", r.Outcome, r.Detail)
	}
	// 443 is published too (plain HTTP: a simplification).
	cl, _ := c.Host("client")
	if r := (Source{Host: cl}).HTTP(context.Background(), fmt.Sprintf("http://%s:443/setup", n.Public), 2*time.Second); r.Outcome != "200" {
		t.Errorf("GET /setup on hostPort 443 = %s (%s), want 200", r.Outcome, r.Detail)
	}
	if r := svc(); r.Outcome != "200" || !strings.Contains(r.Detail, "pod zeus") {
		t.Errorf("Service zeus from the ingress pod = %s (%s), want 200 from pod zeus", r.Outcome, r.Detail)
	}
	if r := get("/nothing"); r.Outcome != "404" {
		t.Errorf("GET /nothing = %s, want the ingress's 404", r.Outcome)
	}
	// firewall-cmd on a node without firewalld reaches the node's (absent)
	// private bus, never the host's.
	out, err := execx.Output(context.Background(), n, "firewall-cmd", "--state")
	if err == nil || !strings.Contains(err.Error(), "/run/dbus/system_bus_socket") {
		t.Errorf("firewall-cmd --state on a node without firewalld: %q, %v; want a failed connect to the node's own bus", out, err)
	}
}

// TestIngressWithFirewalld reproduces #4903 on the rhel-9.5 profile and
// applies the trusted-zone fix; kube-proxy must re-sync after the reload.
func TestIngressWithFirewalld(t *testing.T) {
	c := newCluster(t, "rhel-9.5")
	// Components that write iptables-nft rules (not MicroK8s', whose
	// bundled iptables is legacy): Debian's firewalld 1.3.3, unlike RHEL
	// 9.3+'s with the firewalld#1082 backport, flushes them on reload, and
	// the real kube-proxy's canary monitor must restore them.
	c.prof.Iptables.Mode = "nft"
	n, get, svc := ingressCell(t, c)
	d, ok := n.Firewalld()
	if !ok {
		t.Fatal("rhel-9.5 node runs no firewalld")
	}
	t.Logf("firewalld %s", d.Version())
	if r := svc(); r.Outcome != "200" {
		t.Errorf("Service zeus from the ingress pod = %s (%s), want 200", r.Outcome, r.Detail)
	}
	if r := get("/setup"); r.Outcome != "502" || !strings.Contains(r.Detail, "no route to host") {
		t.Errorf("GET /setup = %s (%s), want 502 from a rejected connect", r.Outcome, r.Detail)
	}
	ctx := context.Background()
	zeus, _ := c.RoutedPod("zeus")
	in, _ := c.RoutedPod("ingress")
	src, _ := in.Addr(4)
	dst, _ := zeus.Addr(4)
	tr, err := n.TraceTCP(ctx, in, src, netip.AddrPortFrom(dst, 8080))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trace:\n%s", strings.Join(tr.Lines, "\n"))
	// The public zone's forward chain (the default zone's, as the cali*
	// interfaces are in no zone) ends in the reject.
	if tr.Verdict != "inet firewalld filter_FWD_public: reject with icmpx admin-prohibited" || tr.Connect != probe.Unreachable {
		t.Errorf("trace verdict %q, connect %s; want the public zone's forward reject, unreachable", tr.Verdict, tr.Connect)
	}
	// firewall-cmd through the node's runner reaches the node's private bus.
	if out, err := execx.Output(ctx, n, "firewall-cmd", "--permanent", "--zone=trusted", "--add-source=10.1.0.0/16"); err != nil || strings.TrimSpace(out) != "success" {
		t.Fatalf("firewall-cmd on the node: %q, %v", out, err)
	}
	k, _ := n.KubeProxy()
	k.Pause()
	before := k.Restores()
	if out, err := execx.Output(ctx, n, "firewall-cmd", "--reload"); err != nil {
		t.Fatalf("reload: %q, %v", out, err)
	}
	if k.CanaryPresent(ctx) {
		t.Error("kube-proxy's canary survived firewall-cmd --reload")
	}
	if r := svc(); r.Outcome == "200" {
		t.Errorf("Service zeus in the window before the re-sync = 200; the reload did not flush kube-proxy's rules")
	}
	waited, err := k.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-proxy re-synced %v after resuming, %d restores", waited, k.Restores()-before)
	if k.Restores() == before {
		t.Error("kube-proxy did not re-sync")
	}
	if r := svc(); r.Outcome != "200" {
		t.Errorf("after the fix Service zeus = %s (%s), want 200", r.Outcome, r.Detail)
	}
	// The pod path the fix is about: the ingress reaches zeus by pod IP.
	inIP, _ := in.Addr(4)
	if r := (Source{Host: n}).HTTP(ctx, fmt.Sprintf("http://%s:80/setup", inIP), 2*time.Second); r.Outcome != "200" {
		t.Errorf("after the fix GET /setup from the node to the ingress pod = %s (%s), want 200", r.Outcome, r.Detail)
	}
	// portmap's hostPort DNAT, written with iptables-nft here, went with
	// the reload and nothing re-adds it (portmap runs at CNI ADD only): the
	// client's packet to port 80 meets the public zone's input reject.
	// MicroK8s' legacy portmap rules (the rhel-9.5 profile) stay.
	if r := get("/setup"); r.Outcome != "unreachable" {
		t.Errorf("after the reload GET /setup on hostPort 80 = %s (%s), want unreachable: portmap's iptables-nft rules flushed", r.Outcome, r.Detail)
	}
	if out, err := execx.Output(ctx, n, "iptables-nft", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"); err == nil {
		t.Errorf("CNI-HOSTPORT-DNAT survived the reload in iptables-nft: %s", out)
	}
	t.Logf("ingress log:\n%s", c.IngressLogs(ctx))
	// The cell's teardown stops firewalld and its bus before the provider
	// removes the namespace (which would kill them).
	c.Close()
	// The node's own PID namespace: ps sees the node's processes only.
	out, err := execx.Output(ctx, n.Node, "ps", "-e", "-o", "comm=")
	if err != nil {
		t.Fatal(err)
	}
	for _, comm := range strings.Fields(out) {
		if comm != "tini" && comm != "sleep" && comm != "ps" {
			t.Errorf("process %s left in the node after Cluster.Close (node processes: %q)", comm, out)
		}
	}
}

// TestCNIAddDel attaches a hostPort pod through the agent's CNI ADD and
// removes it with CNI DEL: portmap's DNAT jump comes and goes.
func TestCNIAddDel(t *testing.T) {
	c := newCluster(t, "microk8s-1.32.2")
	ctx := context.Background()
	n, err := c.AddNode(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.AddPod(ctx, "web", []cni.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	jumps := func() int {
		out, err := execx.Output(ctx, n, "iptables-legacy-save", "-t", "nat")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(out, "-A CNI-HOSTPORT-DNAT ")
	}
	if j := jumps(); j != 1 {
		t.Fatalf("after CNI ADD: %d jumps in CNI-HOSTPORT-DNAT, want 1", j)
	}
	args := agent.CNIDelArgs{Pod: p.ns, ContainerID: p.ContainerID, Conflist: n.conflist, CacheDir: agent.Dir + "/cni-cache", Ports: p.Ports}
	if err := n.Call(ctx, agent.OpCNIDel, args, nil); err != nil {
		t.Fatal(err)
	}
	if j := jumps(); j != 0 {
		t.Errorf("after CNI DEL: %d jumps, want 0", j)
	}
}
