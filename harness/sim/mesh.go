package sim

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"

	"lab/harness/agent"
	"lab/harness/execx"
)

// Node-to-node pod routes. Every MicroK8s node of a cell holds its own IPv4
// pod prefixes (a Calico node its blocks of each pool, a bridge node its
// subnet: the profile's cni.subnet for the first one, the next subnets of the
// same size for the others, as flannel leases one per node), and every other
// node routes them: via its public address, as flannel's host-gw backend and
// Calico without encapsulation (BGP-learnt routes) do on one L2 network, or,
// with a vxlan profile (cni.backend, the default of MicroK8s' flannel and
// Calico), through VXLAN devices (vxlan.go).
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
// Two nodes of the same kind of a vxlan profile reach each other through
// their VXLAN devices instead (tunnel).
func (c *Cluster) mesh(ctx context.Context, n *Node) error {
	if err := n.Call(ctx, agent.OpSysctl, agent.SysctlArgs{Set: map[string]string{"net/ipv4/ip_forward": "1"}}, nil); err != nil {
		return err
	}
	if t, ok := n.tunnel(); ok {
		if err := c.tunnelDevice(ctx, n, t); err != nil {
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

// route makes on reach owner's pod prefixes: through their VXLAN devices
// when both have the same one, else via owner's public address.
func route(ctx context.Context, on, owner *Node) error {
	t1, ok1 := on.tunnel()
	t2, ok2 := owner.tunnel()
	if ok1 && ok2 && t1.Dev == t2.Dev {
		return tunnelRoute(ctx, on, owner, t2)
	}
	for _, p := range owner.podPrefixes4() {
		argv := []string{"ip", "route", "replace", p.String(), "via", owner.Public.String(), "dev", "eth0"}
		if _, err := on.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("pod route on %s to %s's pods: %w", on.Name(), owner.Name(), err)
		}
	}
	return nil
}
