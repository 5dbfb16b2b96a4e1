package sim

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"sync"

	"lab/harness/agent"
	"lab/harness/driver"
	"lab/harness/execx"
)

// Calico's routed pod network, as its CNI plugin builds it on every node
// (the wiring itself runs in the node's agent, harness/agent): each pod has
// a veth whose host end is named cali<hash>, with proxy ARP and a /32 or
// /128 route; pod traffic is routed by the node, so it crosses the node's
// FORWARD chains in every iptables variant.
const blockBits4, blockBits6 = driver.BlockBits4, driver.BlockBits6

// RoutedNet is a node's Calico-style routed pod network.
type RoutedNet struct {
	node *Node
	// CIDRs are the pod pools, at most one per family, in the order given.
	CIDRs []netip.Prefix
	// blocks are this node's IPAM blocks, one per pool.
	blocks []netip.Prefix

	mu   sync.Mutex
	pods []*RoutedPod
}

// RoutedPod is one pod of a routed network.
type RoutedPod struct {
	Name string
	Node *Node
	// NS is the name of the pod's network namespace inside its node.
	NS string
	// HostIface is the host end of the pod's veth (cali + 11 hex digits).
	HostIface string
	// Addrs are the pod's addresses, one per pool of the network.
	Addrs []netip.Addr
	// Port is the port its HTTP server listens on (0: none).
	Port int
}

// Addr returns the pod's address of the family (4 or 6).
func (p *RoutedPod) Addr(family int) (netip.Addr, bool) {
	for _, a := range p.Addrs {
		if (family == 4) == a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// routedNets is the cell's routed networks by node.
type routedNets struct {
	nets map[string]*RoutedNet
	next int // the next node gets this block index of every pool
}

// Routed returns the node's routed pod network, if EnableRouted ran.
func (n *Node) Routed() (*RoutedNet, bool) {
	n.cluster.mu.Lock()
	defer n.cluster.mu.Unlock()
	r, ok := n.cluster.routed.nets[n.Name()]
	return r, ok
}

// block returns the idx-th Calico block of pool.
func block(pool netip.Prefix, idx int) (netip.Prefix, error) {
	bits := blockBits4
	if pool.Addr().Is6() {
		bits = blockBits6
	}
	size := pool.Addr().BitLen()
	v := new(big.Int).SetBytes(pool.Addr().AsSlice())
	v.Add(v, new(big.Int).Lsh(big.NewInt(int64(idx)), uint(size-bits)))
	buf := make([]byte, size/8)
	if v.BitLen() > size {
		return netip.Prefix{}, fmt.Errorf("pool %s has no block %d", pool, idx)
	}
	v.FillBytes(buf)
	addr, _ := netip.AddrFromSlice(buf)
	if !pool.Contains(addr) {
		return netip.Prefix{}, fmt.Errorf("pool %s has no block %d", pool, idx)
	}
	return netip.PrefixFrom(addr, bits), nil
}

// nth returns the n-th address of a block.
func nth(b netip.Prefix, n int) netip.Addr {
	a := b.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}

// EnableRouted gives the node a Calico-style routed pod network for the
// pools: forwarding on for each family it has, IPv6 disabled on the node
// when no IPv6 pool is given (the "disable IPv6" setup), and an IPv4
// default route towards the public network's gateway (proxy ARP answers
// for 169.254.1.1 only when the node has a route to it).
func (n *Node) EnableRouted(ctx context.Context, cidrs []netip.Prefix) (*RoutedNet, error) {
	c := n.cluster
	c.mu.Lock()
	if _, dup := c.routed.nets[n.Name()]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("node %s already has a routed pod network", n.Name())
	}
	r := &RoutedNet{node: n, CIDRs: cidrs}
	c.routed.nets[n.Name()] = r
	bi := c.routed.next
	c.routed.next++
	c.mu.Unlock()
	v6 := false
	for _, p := range cidrs {
		b, err := block(p, bi)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name(), err)
		}
		r.blocks = append(r.blocks, b)
		v6 = v6 || p.Addr().Is6()
	}
	sys := map[string]string{"net/ipv4/ip_forward": "1"}
	if v6 {
		sys["net/ipv6/conf/all/forwarding"] = "1"
		sys["net/ipv6/conf/default/accept_dad"] = "0"
	} else {
		sys["net/ipv6/conf/all/disable_ipv6"] = "1"
		sys["net/ipv6/conf/default/disable_ipv6"] = "1"
	}
	if err := n.Call(ctx, agent.OpSysctl, agent.SysctlArgs{Set: sys}, nil); err != nil {
		return nil, err
	}
	if err := n.RouteDefault(ctx, PublicNet.Addr().Next()); err != nil {
		return nil, err
	}
	return r, nil
}

// RouteDefault makes gw the node's default gateway (replacing any).
func (n *Node) RouteDefault(ctx context.Context, gw netip.Addr) error {
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"ip", "route", "replace", "default", "via", gw.String()}}); err != nil {
		return fmt.Errorf("node %s: %w", n.Name(), err)
	}
	return nil
}

// HostIface returns Calico's host-side interface name for a pod in the
// default Kubernetes namespace: "cali" + the first 11 hex digits of
// sha1("default.<pod>").
func HostIface(pod string) string {
	sum := sha1.Sum([]byte("default." + pod))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// Pods returns the network's pods in creation order.
func (r *RoutedNet) Pods() []*RoutedPod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*RoutedPod(nil), r.pods...)
}

// Pod returns a pod by name.
func (r *RoutedNet) Pod(name string) (*RoutedPod, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pods {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// AddPod creates a pod sandbox on the routed network, as Calico's CNI
// plugin wires it, and, when port > 0, runs a real HTTP server in it on
// that port (both families).
func (r *RoutedNet) AddPod(ctx context.Context, name string, port int) (*RoutedPod, error) {
	n := r.node
	r.mu.Lock()
	for _, p := range r.pods {
		if p.Name == name {
			r.mu.Unlock()
			return nil, fmt.Errorf("pod %q already exists on %s", name, n.Name())
		}
	}
	p := &RoutedPod{Name: name, Node: n, HostIface: HostIface(name), Port: port}
	for _, b := range r.blocks {
		p.Addrs = append(p.Addrs, nth(b, len(r.pods)+1))
	}
	r.pods = append(r.pods, p)
	r.mu.Unlock()
	p.NS = "p-" + name
	if err := n.Call(ctx, agent.OpRoutedPod, agent.RoutedPodArgs{Pod: p.NS, HostIface: p.HostIface, Addrs: p.Addrs, MTU: n.cluster.prof.CNI.MTU}, nil); err != nil {
		return nil, fmt.Errorf("pod %s on %s: %w", name, n.Name(), err)
	}
	if port > 0 {
		if err := n.Call(ctx, agent.OpServe, agent.ServeArgs{Pod: p.NS, Ports: []int{port}, Ident: fmt.Sprintf("pod %s (%s)", name, addrList(p.Addrs))}, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// RoutedPod returns a pod of any node's routed network by name.
func (c *Cluster) RoutedPod(name string) (*RoutedPod, bool) {
	c.mu.Lock()
	nets := make([]*RoutedNet, 0, len(c.routed.nets))
	for _, r := range c.routed.nets {
		nets = append(nets, r)
	}
	c.mu.Unlock()
	for _, r := range nets {
		if p, ok := r.Pod(name); ok {
			return p, true
		}
	}
	return nil, false
}

// CIDR returns the network's pool of the family (4 or 6).
func (r *RoutedNet) CIDR(family int) (netip.Prefix, bool) {
	for _, p := range r.CIDRs {
		if (family == 4) == p.Addr().Is4() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
