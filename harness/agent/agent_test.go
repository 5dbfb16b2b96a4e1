package agent

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/probe"
	"lab/harness/testenv"
)

// TestAgentInNode runs the agent as a separate process inside a node (the
// test binary pushed in through CopyIn, driven over its stdin/stdout):
// it reads the node's facts, creates a routed pod with a server and probes
// it from the node, and its pods vanish with it.
func TestAgentInNode(t *testing.T) {
	env := testenv.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := env.AddNode(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	// Proxy ARP answers for the pods' gateway only when the node has a
	// route to it: give the node a default route, as a real node has.
	if err := env.Connect(ctx, n, "public", "eth0", netip.MustParsePrefix("198.51.100.10/24")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Run(ctx, execxCmd("ip", "route", "add", "default", "via", "198.51.100.1")); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, n, exe); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	c, err := Start(ctx, n, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	var f Facts
	if err := c.Call(ctx, OpFacts, FactsArgs{Programs: true}, &f); err != nil {
		t.Fatal(err)
	}
	t.Logf("facts: %v", f)
	if f["kernel"] == "" || f["firewalld"] == "" || f["iptables_legacy"] == "" || !strings.Contains(f["iptables_legacy"], "legacy") || f["nft"] == "" {
		t.Errorf("facts lack kernel/iptables/nft: %v", f)
	}
	if err := c.Call(ctx, OpSysctl, SysctlArgs{Set: map[string]string{"net/ipv4/ip_forward": "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	pod := netip.MustParseAddr("10.1.0.5")
	if err := c.Call(ctx, OpRoutedPod, RoutedPodArgs{Pod: "p-web", HostIface: "caliabc", Addrs: []netip.Addr{pod}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, OpServe, ServeArgs{Pod: "p-web", Ports: []int{8080}, Ident: "web"}, nil); err != nil {
		t.Fatal(err)
	}
	var r probe.Result
	if err := c.Call(ctx, OpHTTP, HTTPArgs{URL: "http://10.1.0.5:8080/", Timeout: 2 * time.Second}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Outcome != "200" || !strings.Contains(r.Detail, "web") {
		t.Errorf("probe from the node to the pod = %+v", r)
	}
	if err := c.Call(ctx, OpHTTP, HTTPArgs{URL: "http://10.1.0.5:9999/", Timeout: 2 * time.Second}, &r); err != nil || r.Outcome != probe.Refused {
		t.Errorf("probe of a closed port = %+v, %v; want refused", r, err)
	}
	var dev string
	if err := c.Call(ctx, OpReadFile, ReadFileArgs{Pod: "p-web", Path: "/proc/thread-self/net/dev"}, &dev); err != nil || !strings.Contains(dev, "eth0") || strings.Contains(dev, "caliabc") {
		t.Errorf("pod's interfaces = %q, %v; want its eth0 only", dev, err)
	}
	// The pod namespace lives inside the node's /run, not the host's.
	if _, err := os.Stat("/run/netns/p-web"); err == nil {
		t.Error("the pod's namespace is visible on the host")
	}
	if out, err := n.Run(ctx, execxCmd("ip", "netns", "list")); err != nil || !strings.Contains(string(out.Stdout), "p-web") {
		t.Errorf("ip netns list in the node: %q, %v", out.Stdout, err)
	}
	if err := c.Call(ctx, OpPodDelete, PodArgs{Pod: "p-web"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v (log %s)", err, log.String())
	}
	if err := c.Call(ctx, OpFacts, Empty{}, &f); err == nil {
		t.Error("call after Stop succeeded")
	}
}

func execxCmd(argv ...string) execx.Cmd { return execx.Cmd{Argv: argv} }
