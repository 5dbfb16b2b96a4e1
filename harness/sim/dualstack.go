package sim

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"lab/harness/netns"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Calico's routed pod network, as its CNI plugin builds it on every node:
// each pod has a veth whose host end is named cali<hash>, carries the MAC
// ee:ee:ee:ee:ee:ee and proxy ARP, and a /32 (IPv4) or /128 (IPv6) route;
// inside the pod, eth0 holds the pod's addresses and default routes point at
// 169.254.1.1 (answered by proxy ARP) and at the host end's link-local
// fe80::ecee:eeff:feee:eeee. Pod traffic is routed by the node, so it
// crosses the node's FORWARD chains in every iptables variant.
const (
	// CalicoGatewayV4 is the pods' IPv4 default gateway.
	CalicoGatewayV4 = "169.254.1.1"
	// CalicoGatewayV6 is the pods' IPv6 default gateway: the link-local
	// address of the host end (from its MAC ee:ee:ee:ee:ee:ee).
	CalicoGatewayV6 = "fe80::ecee:eeff:feee:eeee"
	// calicoMAC is the MAC of every host end.
	calicoMAC = "ee:ee:ee:ee:ee:ee"
	// blockBits4 and blockBits6 are the sizes of Calico's per-node IPAM
	// blocks (/26 and /122).
	blockBits4, blockBits6 = 26, 122
)

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
	// NetNS is the path of the pod's network namespace.
	NetNS string
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

// routedNets is the cell's routed networks by node, kept in the cluster's
// Ext store.
type routedNets struct {
	mu   sync.Mutex
	nets map[string]*RoutedNet
	next int // the next node gets this block index of every pool
}

func (c *Cluster) routed() *routedNets {
	return c.Ext("routed", func() any { return &routedNets{nets: map[string]*RoutedNet{}} }).(*routedNets)
}

// Routed returns the node's routed pod network, if EnableRouted ran.
func (n *Node) Routed() (*RoutedNet, bool) {
	reg := n.cluster.routed()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	r, ok := reg.nets[n.Name()]
	return r, ok
}

// ParseCIDRs parses a comma list of pod pools ("10.1.0.0/16,fd01::/64"),
// at most one per family.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	seen := map[bool]bool{}
	for _, f := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("pod CIDRs %q: %w", s, err)
		}
		p = p.Masked()
		max := blockBits4
		if p.Addr().Is6() {
			max = blockBits6
		}
		if p.Bits() > max {
			return nil, fmt.Errorf("pod CIDR %s is smaller than one Calico block (/%d)", p, max)
		}
		if seen[p.Addr().Is4()] {
			return nil, fmt.Errorf("pod CIDRs %q: more than one pool of the same family", s)
		}
		seen[p.Addr().Is4()] = true
		out = append(out, p)
	}
	return out, nil
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
	reg := n.cluster.routed()
	reg.mu.Lock()
	if _, dup := reg.nets[n.Name()]; dup {
		reg.mu.Unlock()
		return nil, fmt.Errorf("node %s already has a routed pod network", n.Name())
	}
	r := &RoutedNet{node: n, CIDRs: cidrs}
	reg.nets[n.Name()] = r
	bi := reg.next
	reg.next++
	reg.mu.Unlock()
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
	if err := sysctls(n.NetNS(), sys); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name(), err)
	}
	gw := PublicNet.Addr().Next()
	if err := n.cluster.env.Route(ctx, n.Host, "default", gw); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("node %s: %w", n.Name(), err)
	}
	return r, nil
}

// sysctls writes /proc/sys/KEY=VALUE inside the namespace at path (the
// net.* sysctls belong to the namespace of the thread that opens them).
func sysctls(path string, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return netns.Do(path, func() error {
		for _, k := range keys {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(kv[k]), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), kv[k], err)
			}
		}
		return nil
	})
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
	path, err := n.cluster.env.NewNamespace(ctx, "p-"+n.Name()+"-"+name)
	if err != nil {
		return nil, err
	}
	p.NetNS = path
	if err := sysctls(path, map[string]string{"net/ipv6/conf/default/accept_dad": "0", "net/ipv6/conf/all/accept_dad": "0"}); err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	if err := r.wire(p); err != nil {
		return nil, fmt.Errorf("pod %s on %s: %w", name, n.Name(), err)
	}
	if port > 0 {
		s, err := listen(path, port, fmt.Sprintf("pod %s (%s)", name, addrList(p.Addrs)))
		if err != nil {
			return nil, err
		}
		n.cluster.OnClose(s.close)
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

// handleAt opens a netlink handle in the namespace at path.
func handleAt(path string) (*netlink.Handle, vns.NsHandle, error) {
	ns, err := vns.GetFromPath(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open namespace %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, 0, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return h, ns, nil
}

// wire creates the veth and the addresses and routes on both ends.
func (r *RoutedNet) wire(p *RoutedPod) error {
	node, nodeNS, err := handleAt(r.node.NetNS())
	if err != nil {
		return err
	}
	defer nodeNS.Close()
	defer node.Close()
	pod, podNS, err := handleAt(p.NetNS)
	if err != nil {
		return err
	}
	defer podNS.Close()
	defer pod.Close()
	mac, _ := net.ParseMAC(calicoMAC)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.HostIface, HardwareAddr: mac},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(podNS)),
	}
	if err := node.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", p.HostIface, err)
	}
	host, err := node.LinkByName(p.HostIface)
	if err != nil {
		return err
	}
	v6 := false
	for _, a := range p.Addrs {
		v6 = v6 || a.Is6()
	}
	sys := map[string]string{
		"net/ipv4/conf/" + p.HostIface + "/proxy_arp":    "1",
		"net/ipv4/neigh/" + p.HostIface + "/proxy_delay": "0",
	}
	if v6 {
		sys["net/ipv6/conf/"+p.HostIface+"/accept_dad"] = "0"
	}
	if err := sysctls(r.node.NetNS(), sys); err != nil {
		return err
	}
	if err := node.LinkSetUp(host); err != nil {
		return fmt.Errorf("up %s: %w", p.HostIface, err)
	}
	eth0, err := pod.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, a := range p.Addrs {
		ipn := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
		if err := pod.AddrAdd(eth0, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("address %s on eth0: %w", a, err)
		}
	}
	if err := pod.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("up eth0: %w", err)
	}
	for _, a := range p.Addrs {
		if err := node.RouteAdd(&netlink.Route{LinkIndex: host.Attrs().Index, Scope: netlink.SCOPE_LINK,
			Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}); err != nil {
			return fmt.Errorf("route %s dev %s: %w", a, p.HostIface, err)
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

// RoutedPod returns a pod of any node's routed network by name.
func (c *Cluster) RoutedPod(name string) (*RoutedPod, bool) {
	reg := c.routed()
	reg.mu.Lock()
	nets := make([]*RoutedNet, 0, len(reg.nets))
	for _, r := range reg.nets {
		nets = append(nets, r)
	}
	reg.mu.Unlock()
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
