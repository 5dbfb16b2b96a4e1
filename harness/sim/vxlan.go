package sim

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"lab/harness/execx"
)

// VXLAN between nodes, as the CNIs program it with a vxlan profile
// (cni.backend vxlan, the default of MicroK8s' flannel and Calico): each
// node has one VXLAN device without learning, whose address is the next hop
// of its pods; every other node gets a permanent neighbour entry (that
// address -> the device's MAC), a forwarding entry (the MAC -> the node's
// public address) and a route (the node's pod prefixes via that address,
// onlink). The device's MTU is 50 below the uplink's.

// Tunnel is a node's VXLAN device.
type Tunnel struct {
	Dev       string
	VNI, Port int
	// VTEP is the device's address, the next hop of the node's pods.
	VTEP netip.Addr
}

// tunnel returns the VXLAN device a node of a vxlan profile has: flannel.1
// (VNI 1, UDP 8472, flannel's) with its subnet's network address on a
// bridge node; vxlan.calico (VNI 4096, UDP 4789, Calico's) with its IPv4
// block's first address on a Calico node.
func (n *Node) tunnel() (Tunnel, bool) {
	if n.cluster.prof.CNI.Backend != "vxlan" {
		return Tunnel{}, false
	}
	if r, ok := n.Routed(); ok {
		for _, b := range r.blocks {
			if b.Addr().Is4() {
				return Tunnel{Dev: "vxlan.calico", VNI: 4096, Port: 4789, VTEP: b.Addr()}, true
			}
		}
		return Tunnel{}, false
	}
	if !n.podSubnet.IsValid() {
		return Tunnel{}, false
	}
	return Tunnel{Dev: "flannel.1", VNI: 1, Port: 8472, VTEP: n.podSubnet.Addr()}, true
}

// tunnelDevice creates a node's VXLAN device and reads its MAC.
func (c *Cluster) tunnelDevice(ctx context.Context, n *Node, t Tunnel) error {
	mtu := 1500
	if c.prof.UplinkMTU > 0 {
		mtu = c.prof.UplinkMTU
	}
	for _, argv := range [][]string{
		{"ip", "link", "add", t.Dev, "type", "vxlan", "id", strconv.Itoa(t.VNI), "local", n.Public.String(), "dev", "eth0", "dstport", strconv.Itoa(t.Port), "nolearning"},
		{"ip", "link", "set", t.Dev, "mtu", strconv.Itoa(mtu - 50)},
		{"ip", "addr", "add", netip.PrefixFrom(t.VTEP, 32).String(), "dev", t.Dev},
		{"ip", "link", "set", t.Dev, "up"},
	} {
		if _, err := n.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("%s on %s: %w", t.Dev, n.Name(), err)
		}
	}
	out, err := execx.Output(ctx, n, "ip", "-o", "link", "show", t.Dev)
	if err != nil {
		return err
	}
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "link/ether" && i+1 < len(f) {
			n.vxlanMAC = f[i+1]
			return nil
		}
	}
	return fmt.Errorf("%s on %s: no MAC in %q", t.Dev, n.Name(), out)
}

// tunnelRoute makes on reach owner's pod prefixes through owner's device t.
func tunnelRoute(ctx context.Context, on, owner *Node, t Tunnel) error {
	gw := t.VTEP.String()
	cmds := [][]string{
		{"ip", "neigh", "replace", gw, "lladdr", owner.vxlanMAC, "dev", t.Dev, "nud", "permanent"},
		{"bridge", "fdb", "replace", owner.vxlanMAC, "dev", t.Dev, "dst", owner.Public.String(), "self", "permanent"},
	}
	for _, p := range owner.podPrefixes4() {
		cmds = append(cmds, []string{"ip", "route", "replace", p.String(), "via", gw, "dev", t.Dev, "onlink"})
	}
	for _, argv := range cmds {
		if _, err := on.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("%s on %s to %s's pods: %w", t.Dev, on.Name(), owner.Name(), err)
		}
	}
	return nil
}
