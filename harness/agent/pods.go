package agent

import (
	"context"
	"fmt"
	"net"

	"lab/harness/cni"
	"lab/harness/execx"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Calico's routed pod network, as its CNI plugin builds it on every node:
// each pod has a veth whose host end is named cali<hash>, carries the MAC
// ee:ee:ee:ee:ee:ee and proxy ARP, and a /32 (IPv4) or /128 (IPv6) route;
// inside the pod, eth0 holds the pod's addresses and default routes point at
// 169.254.1.1 (answered by proxy ARP) and at the host end's link-local
// fe80::ecee:eeff:feee:eeee.
const (
	// CalicoGatewayV4 is the pods' IPv4 default gateway.
	CalicoGatewayV4 = "169.254.1.1"
	// CalicoGatewayV6 is the pods' IPv6 default gateway: the link-local
	// address of the host end (from its MAC ee:ee:ee:ee:ee:ee).
	CalicoGatewayV6 = "fe80::ecee:eeff:feee:eeee"
	// calicoMAC is the MAC of every host end.
	calicoMAC = "ee:ee:ee:ee:ee:ee"
)

// routedPod creates the pod's namespace and wires it as Calico does.
func (a *Agent) routedPod(ctx context.Context, r RoutedPodArgs) (Empty, error) {
	p, err := a.newPod(ctx, r.Pod)
	if err != nil {
		return Empty{}, err
	}
	if err := sysctls(p.ns, map[string]string{"net/ipv6/conf/default/accept_dad": "0", "net/ipv6/conf/all/accept_dad": "0"}); err != nil {
		return Empty{}, fmt.Errorf("pod %s: %w", r.Pod, err)
	}
	if err := wire(p.ns, r); err != nil {
		return Empty{}, fmt.Errorf("pod %s: %w", r.Pod, err)
	}
	return Empty{}, nil
}

// wire creates the veth and the addresses and routes on both ends.
func wire(podPath string, r RoutedPodArgs) error {
	node, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer node.Close()
	podNS, err := vns.GetFromPath(podPath)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", podPath, err)
	}
	defer podNS.Close()
	pod, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", podPath, err)
	}
	defer pod.Close()
	mac, _ := net.ParseMAC(calicoMAC)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: r.HostIface, HardwareAddr: mac, MTU: r.MTU},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(podNS)),
	}
	if err := node.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", r.HostIface, err)
	}
	host, err := node.LinkByName(r.HostIface)
	if err != nil {
		return err
	}
	v6 := false
	for _, a := range r.Addrs {
		v6 = v6 || a.Is6()
	}
	sys := map[string]string{
		"net/ipv4/conf/" + r.HostIface + "/proxy_arp":    "1",
		"net/ipv4/neigh/" + r.HostIface + "/proxy_delay": "0",
	}
	if v6 {
		sys["net/ipv6/conf/"+r.HostIface+"/accept_dad"] = "0"
	}
	if err := sysctls("", sys); err != nil {
		return err
	}
	if err := node.LinkSetUp(host); err != nil {
		return fmt.Errorf("up %s: %w", r.HostIface, err)
	}
	eth0, err := pod.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, a := range r.Addrs {
		ipn := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
		if err := pod.AddrAdd(eth0, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("address %s on eth0: %w", a, err)
		}
	}
	if err := pod.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("up eth0: %w", err)
	}
	for _, a := range r.Addrs {
		if err := node.RouteAdd(&netlink.Route{LinkIndex: host.Attrs().Index, Scope: netlink.SCOPE_LINK,
			Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}); err != nil {
			return fmt.Errorf("route %s dev %s: %w", a, r.HostIface, err)
		}
		gw := net.ParseIP(CalicoGatewayV6)
		if a.Is4() {
			gw = net.ParseIP(CalicoGatewayV4)
			if err := pod.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK,
				Dst: &net.IPNet{IP: gw.To4(), Mask: net.CIDRMask(32, 32)}}); err != nil {
				return fmt.Errorf("route %s dev eth0: %w", gw, err)
			}
		}
		if err := pod.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw}); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// cniAdd creates the pod's namespace and runs CNI ADD of the conflist with
// the plugins pushed into the node (run by libcni as a container runtime
// does, with the agent's environment: the profile's iptables variant first
// in PATH).
func (a *Agent) cniAdd(ctx context.Context, c CNIAddArgs) (CNIAddResult, error) {
	p, err := a.newPod(ctx, c.Pod)
	if err != nil {
		return CNIAddResult{}, err
	}
	n, err := cni.New(PluginDir, c.CacheDir, execx.Host{}, c.Conflist)
	if err != nil {
		return CNIAddResult{}, err
	}
	ip, err := n.Add(ctx, c.ContainerID, p.ns, c.Ports)
	if err != nil {
		return CNIAddResult{}, err
	}
	return CNIAddResult{IP: ip}, nil
}

// cniDel runs CNI DEL of the conflist for the pod's sandbox (its namespace
// stays; pod_delete removes it).
func (a *Agent) cniDel(ctx context.Context, c CNIDelArgs) (Empty, error) {
	path, err := a.podNS(c.Pod)
	if err != nil {
		return Empty{}, err
	}
	n, err := cni.New(PluginDir, c.CacheDir, execx.Host{}, c.Conflist)
	if err != nil {
		return Empty{}, err
	}
	return Empty{}, n.Del(ctx, c.ContainerID, path, c.Ports)
}

// portmap runs CNI ADD of a conflist (cni.PortmapConfList) for a pod that
// already exists, e.g. a routed pod: its hostPorts, published by the real
// portmap plugin as Calico's chained portmap does.
func (a *Agent) portmap(ctx context.Context, c CNIAddArgs) (CNIAddResult, error) {
	path, err := a.podNS(c.Pod)
	if err != nil {
		return CNIAddResult{}, err
	}
	n, err := cni.New(PluginDir, c.CacheDir, execx.Host{}, c.Conflist)
	if err != nil {
		return CNIAddResult{}, err
	}
	ip, err := n.Add(ctx, c.ContainerID, path, c.Ports)
	if err != nil {
		return CNIAddResult{}, err
	}
	return CNIAddResult{IP: ip}, nil
}
