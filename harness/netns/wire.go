package netns

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
)

// bridge creates the bridge name in the fabric namespace fab, up, and
// returns its ifindex. Providers make one per network of a cell.
func bridge(fab *netlink.Handle, name string) (int, error) {
	if err := fab.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return 0, fmt.Errorf("create bridge %s: %w", name, err)
	}
	l, err := fab.LinkByName(name)
	if err != nil {
		return 0, err
	}
	if err := fab.LinkSetUp(l); err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// wire plugs the network namespace node into the bridge brIdx of fab: a
// veth pair whose outer end (outer, in fab) is a port of the bridge and
// whose inner end is created directly in node as ifname with addr; both
// ends up.
func wire(fab *netlink.Handle, brIdx int, outer string, node vns.NsHandle, ifname string, addr netip.Prefix) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: outer, MasterIndex: brIdx},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(int(node)),
	}
	if err := fab.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s/%s: %w", outer, ifname, err)
	}
	if err := fab.LinkSetUp(veth); err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(node)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("find %s: %w", ifname, err)
	}
	ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, ifname, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("up %s: %w", ifname, err)
	}
	return nil
}

// Handle opens a netlink handle bound to the namespace at path.
func Handle(path string) (*netlink.Handle, error) {
	ns, err := vns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// Fabric is a cell's fabric namespace: one bridge per network of the cell
// (made on first use), and node ends plugged into them with veths. Its
// methods are safe for concurrent use.
type Fabric struct {
	// Path is the fabric namespace's path.
	Path string

	mu      sync.Mutex
	bridges map[string]int // network name -> bridge ifindex
	links   int
}

// Attach plugs the network namespace node into network's bridge as ifname
// with addr (wire), creating the bridge first when the network is new.
func (f *Fabric) Attach(node vns.NsHandle, network, ifname string, addr netip.Prefix) error {
	fab, err := Handle(f.Path)
	if err != nil {
		return err
	}
	defer fab.Close()
	f.mu.Lock()
	idx, ok := f.bridges[network]
	if !ok {
		if idx, err = bridge(fab, fmt.Sprintf("br%d", len(f.bridges))); err != nil {
			f.mu.Unlock()
			return fmt.Errorf("network %s: %w", network, err)
		}
		if f.bridges == nil {
			f.bridges = map[string]int{}
		}
		f.bridges[network] = idx
	}
	f.links++
	outer := fmt.Sprintf("v%d", f.links)
	f.mu.Unlock()
	return wire(fab, idx, outer, node, ifname, addr)
}
