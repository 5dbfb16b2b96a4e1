// Package netnsprov is the embedded default provider: every host is a Linux
// network namespace on this machine, networks are bridges in a per-cell
// "fabric" namespace, and the real kernel netfilter does the filtering.
// Nothing is created in the host's own network namespace.
package netnsprov

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"lab/harness/execx"
	"lab/harness/netns"
	"lab/harness/provider"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
)

// New returns the netns provider.
func New() provider.Provider { return &prov{} }

type prov struct{}

func (*prov) Name() string { return "netns" }

func (*prov) Check(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return &provider.UnavailableError{Provider: "netns", Reason: "needs root to create network namespaces; run as root (sudo)"}
	}
	return execx.LookPath(map[string]string{"ip": "iproute2", "iptables-legacy": "iptables", "nft": "nftables"})
}

func (p *prov) NewEnv(ctx context.Context, prefix string) (provider.Env, error) {
	e := &env{prefix: prefix, hosts: map[string]*host{}, bridges: map[string]int{}}
	path, err := e.NewNamespace(ctx, "net")
	if err != nil {
		// A cancelled `ip netns add` may still have made the namespace.
		_ = e.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	e.fabric = path
	return e, nil
}

type env struct {
	prefix string
	fabric string

	mu         sync.Mutex
	namespaces []string // full names, in creation order
	hosts      map[string]*host
	bridges    map[string]int // network name -> bridge ifindex in fabric
	links      int
	closed     bool
}

type host struct {
	netns.Runner
	name string
}

func (h *host) Name() string  { return h.name }
func (h *host) NetNS() string { return h.Path }

func (e *env) NewNamespace(ctx context.Context, name string) (string, error) {
	full := e.prefix + "-" + name
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", errors.New("netns: environment already closed")
	}
	// Register before creating, so a half-made namespace is still removed.
	e.namespaces = append(e.namespaces, full)
	e.mu.Unlock()
	return netns.Create(ctx, full)
}

func (e *env) DeleteNamespace(ctx context.Context, name string) error {
	full := e.prefix + "-" + name
	e.mu.Lock()
	for i, n := range e.namespaces {
		if n == full {
			e.namespaces = append(e.namespaces[:i], e.namespaces[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	return netns.Delete(ctx, full)
}

func (e *env) AddHost(ctx context.Context, name string) (provider.Host, error) {
	e.mu.Lock()
	_, dup := e.hosts[name]
	e.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("host %q already exists in this cell", name)
	}
	path, err := e.NewNamespace(ctx, "h-"+name)
	if err != nil {
		return nil, err
	}
	h := &host{Runner: netns.Runner{Path: path}, name: name}
	e.mu.Lock()
	e.hosts[name] = h
	e.mu.Unlock()
	return h, nil
}

func (e *env) Host(name string) (provider.Host, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hosts[name]
	return h, ok
}

// handle opens a netlink handle bound to the namespace at path.
func handle(path string) (*netlink.Handle, error) {
	ns, err := vns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

func (e *env) bridge(fab *netlink.Handle, network string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if idx, ok := e.bridges[network]; ok {
		return idx, nil
	}
	name := fmt.Sprintf("br%d", len(e.bridges))
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := fab.LinkAdd(br); err != nil {
		return 0, fmt.Errorf("create bridge for network %s: %w", network, err)
	}
	l, err := fab.LinkByName(name)
	if err != nil {
		return 0, err
	}
	if err := fab.LinkSetUp(l); err != nil {
		return 0, err
	}
	e.bridges[network] = l.Attrs().Index
	return l.Attrs().Index, nil
}

func (e *env) Connect(ctx context.Context, h provider.Host, network, ifname string, addr netip.Prefix) error {
	fab, err := handle(e.fabric)
	if err != nil {
		return err
	}
	defer fab.Close()
	brIdx, err := e.bridge(fab, network)
	if err != nil {
		return err
	}
	hns, err := vns.GetFromPath(h.NetNS())
	if err != nil {
		return fmt.Errorf("open namespace of %s: %w", h.Name(), err)
	}
	defer hns.Close()
	e.mu.Lock()
	e.links++
	outer := fmt.Sprintf("v%d", e.links)
	e.mu.Unlock()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: outer, MasterIndex: brIdx},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(int(hns)),
	}
	if err := fab.LinkAdd(veth); err != nil {
		return fmt.Errorf("connect %s to %s: create veth %s/%s: %w", h.Name(), network, outer, ifname, err)
	}
	if err := fab.LinkSetUp(veth); err != nil {
		return fmt.Errorf("connect %s to %s: %w", h.Name(), network, err)
	}
	hh, err := handle(h.NetNS())
	if err != nil {
		return err
	}
	defer hh.Close()
	l, err := hh.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("connect %s: find %s: %w", h.Name(), ifname, err)
	}
	ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
	if err := hh.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("connect %s: address %s on %s: %w", h.Name(), addr, ifname, err)
	}
	if err := hh.LinkSetUp(l); err != nil {
		return fmt.Errorf("connect %s: up %s: %w", h.Name(), ifname, err)
	}
	return nil
}

func (e *env) Route(ctx context.Context, h provider.Host, dst string, gw netip.Addr) error {
	hh, err := handle(h.NetNS())
	if err != nil {
		return err
	}
	defer hh.Close()
	r := &netlink.Route{Gw: gw.AsSlice()}
	if dst != "default" {
		_, ipn, err := net.ParseCIDR(dst)
		if err != nil {
			return fmt.Errorf("route on %s: %w", h.Name(), err)
		}
		r.Dst = ipn
	}
	if err := hh.RouteAdd(r); err != nil {
		return fmt.Errorf("route %s via %s on %s: %w", dst, gw, h.Name(), err)
	}
	return nil
}

// Close removes every namespace of the cell, newest first, killing any
// process left inside. Deleting a namespace destroys its interfaces.
func (e *env) Close(ctx context.Context) error {
	e.mu.Lock()
	names := e.namespaces
	e.namespaces = nil
	e.closed = true
	e.mu.Unlock()
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if err := netns.Delete(ctx, names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
