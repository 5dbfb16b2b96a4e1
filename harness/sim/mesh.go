package sim

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"

	"lab/harness/agent"
	"lab/harness/execx"
)

// Node-to-node pod routes. Every MicroK8s node of a cell holds its own IPv4
// pod prefixes (a Calico node its blocks of each pool, a bridge node its
// subnet: the profile's cni.subnet for the first one, the next subnets of the
// same size for the others, as flannel leases one per node), and every other
// node routes them: via its public address, as flannel's host-gw backend and
// Calico without encapsulation (BGP-learnt routes) do on one L2 network, or,
// between bridge nodes of a vxlan profile (cni.backend, flannel's default),
// through flannel.1 VXLAN devices as flannel's vxlan backend programs them.
// IPv6 pod traffic does not cross nodes: the public network is IPv4 only.

// bridgeSubnet returns the pod subnet of the next bridge node.
func (c *Cluster) bridgeSubnet() (netip.Prefix, error) {
	base, err := netip.ParsePrefix(c.prof.CNI.Subnet)
	if err != nil || !base.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("profile %s: cni.subnet %q is not an IPv4 CIDR", c.prof.Name, c.prof.CNI.Subnet)
	}
	base = base.Masked()
	c.mu.Lock()
	idx := c.bridgeNodes
	c.bridgeNodes++
	c.mu.Unlock()
	v := new(big.Int).SetBytes(base.Addr().AsSlice())
	v.Add(v, new(big.Int).Lsh(big.NewInt(int64(idx)), uint(32-base.Bits())))
	if v.BitLen() > 32 {
		return netip.Prefix{}, fmt.Errorf("profile %s: no subnet %d after cni.subnet %s", c.prof.Name, idx, base)
	}
	buf := make([]byte, 4)
	v.FillBytes(buf)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(buf)), base.Bits()), nil
}

// podPrefixes4 returns the IPv4 pod prefixes a node holds.
func (n *Node) podPrefixes4() []netip.Prefix {
	if r, ok := n.Routed(); ok {
		var out []netip.Prefix
		for _, b := range r.blocks {
			if b.Addr().Is4() {
				out = append(out, b)
			}
		}
		return out
	}
	if n.podSubnet.IsValid() {
		return []netip.Prefix{n.podSubnet}
	}
	return nil
}

// mesh routes a new node's pod prefixes on every other MicroK8s node, and
// theirs on it, each via the owner's public address; it turns forwarding on.
// Two bridge nodes of a vxlan profile reach each other through their
// flannel.1 devices instead, as flannel's vxlan backend programs them.
func (c *Cluster) mesh(ctx context.Context, n *Node) error {
	if err := n.Call(ctx, agent.OpSysctl, agent.SysctlArgs{Set: map[string]string{"net/ipv4/ip_forward": "1"}}, nil); err != nil {
		return err
	}
	if n.vxlan() {
		if err := c.flannelDevice(ctx, n); err != nil {
			return err
		}
	}
	for _, m := range c.Hosts() {
		if m.Role != RoleNode || m.Name() == n.Name() {
			continue
		}
		if err := route(ctx, m, n); err != nil {
			return err
		}
		if err := route(ctx, n, m); err != nil {
			return err
		}
	}
	return nil
}

// vxlan reports whether a node is a bridge node of a vxlan profile.
func (n *Node) vxlan() bool {
	_, routed := n.Routed()
	return !routed && n.podSubnet.IsValid() && n.cluster.prof.CNI.Backend == "vxlan"
}

// FlannelDevice is flannel's VXLAN device; VNI 1, UDP port 8472 (Linux's
// IANA default is 4789; flannel uses the kernel's old default).
const FlannelDevice = "flannel.1"

// flannelDevice creates the node's flannel.1 as flannel's vxlan backend
// does: local address the node's public one, no learning, MTU 50 below the
// uplink's, the subnet's network address on it.
func (c *Cluster) flannelDevice(ctx context.Context, n *Node) error {
	mtu := 1500
	if c.prof.UplinkMTU > 0 {
		mtu = c.prof.UplinkMTU
	}
	for _, argv := range [][]string{
		{"ip", "link", "add", FlannelDevice, "type", "vxlan", "id", "1", "local", n.Public.String(), "dev", "eth0", "dstport", "8472", "nolearning"},
		{"ip", "link", "set", FlannelDevice, "mtu", strconv.Itoa(mtu - 50)},
		{"ip", "addr", "add", netip.PrefixFrom(n.podSubnet.Addr(), 32).String(), "dev", FlannelDevice},
		{"ip", "link", "set", FlannelDevice, "up"},
	} {
		if _, err := n.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("flannel vxlan on %s: %w", n.Name(), err)
		}
	}
	out, err := execx.Output(ctx, n, "ip", "-o", "link", "show", FlannelDevice)
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
	return fmt.Errorf("flannel vxlan on %s: no MAC in %q", n.Name(), out)
}

// route makes on reach owner's pod prefixes: through flannel.1 between two
// vxlan bridge nodes, else via owner's public address.
func route(ctx context.Context, on, owner *Node) error {
	if on.vxlan() && owner.vxlan() {
		gw := owner.podSubnet.Addr().String()
		for _, argv := range [][]string{
			{"ip", "neigh", "replace", gw, "lladdr", owner.vxlanMAC, "dev", FlannelDevice, "nud", "permanent"},
			{"bridge", "fdb", "replace", owner.vxlanMAC, "dev", FlannelDevice, "dst", owner.Public.String(), "self", "permanent"},
			{"ip", "route", "replace", owner.podSubnet.String(), "via", gw, "dev", FlannelDevice, "onlink"},
		} {
			if _, err := on.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
				return fmt.Errorf("flannel vxlan on %s to %s's pods: %w", on.Name(), owner.Name(), err)
			}
		}
		return nil
	}
	for _, p := range owner.podPrefixes4() {
		argv := []string{"ip", "route", "replace", p.String(), "via", owner.Public.String(), "dev", "eth0"}
		if _, err := on.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("pod route on %s to %s's pods: %w", on.Name(), owner.Name(), err)
		}
	}
	return nil
}
