package dockerprov

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"lab/harness/execx"
	"lab/harness/node"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
)

// Networks. A cell's network is a docker macvlan network (bridge mode,
// internal) whose parent is one end of a veth pair made for it on this
// host (named lab + 8 hex digits, alias PREFIX/NETWORK). Why not docker's
// bridge driver:
//   - every cell has the same public network (198.51.100.0/24): the
//     engine refuses overlapping subnets, and a bridge puts a gateway
//     address of it on the host;
//   - bridged frames pass the host's iptables FORWARD (br_netfilter), the
//     shared conntrack table and docker's isolation rules (an internal
//     bridge drops every source outside its subnet: pod IPs);
//   - the bridge driver programs the host's DOCKER chains and fails when a
//     ruleset flush on the host removed them (seen on this machine).
//
// macvlan siblings switch frames among themselves without touching the
// host's stack or netfilter. The engine's IPAM gives each interface a
// throwaway address from its default pools; Connect finds the interface
// by its MAC address (interface names do not follow connect order),
// renames it, and replaces the address with the cell's. Docker's
// embedded-DNS NAT rules in the node are removed too: nodes are addressed
// by IP only, and the node's netfilter starts empty as on netns.

// claimScript runs in the node: $1 MAC, $2 ifname, $3 address.
const claimScript = `set -e
cur=""
for d in /sys/class/net/*; do
  if [ "$(cat "$d/address")" = "$1" ]; then cur=${d##*/}; fi
done
[ -n "$cur" ] || { echo "no interface with MAC $1" >&2; ip -br link >&2; exit 1; }
ip addr flush dev "$cur"
ip route flush dev "$cur" || true
if [ "$cur" != "$2" ]; then
  ip link set "$cur" down
  ip link set "$cur" name "$2"
fi
echo 0 > "/proc/sys/net/ipv6/conf/$2/disable_ipv6"
ip addr add "$3" dev "$2"
ip link set "$2" up
for v in legacy nft; do
  ipt=iptables-$v
  command -v $ipt >/dev/null || continue
  rules=$($ipt -t nat -S 2>/dev/null | grep -e '-j DOCKER_OUTPUT' -e '-j DOCKER_POSTROUTING' || true)
  [ -n "$rules" ] || continue
  echo "$rules" | sed 's/^-A /-D /' | while read -r r; do $ipt -t nat $r; done
  for c in DOCKER_OUTPUT DOCKER_POSTROUTING; do $ipt -t nat -F $c 2>/dev/null && $ipt -t nat -X $c; done
done
`

// Connect attaches the node to the cell's network (created on first use)
// as ifname with addr.
func (e *env) Connect(ctx context.Context, nd node.Node, network, ifname string, addr netip.Prefix) error {
	n, ok := nd.(*dkNode)
	if !ok {
		return fmt.Errorf("connect %s: not a node of the docker provider", nd.Name())
	}
	dn, err := e.network(ctx, network)
	if err != nil {
		return err
	}
	n.netMu.Lock()
	defer n.netMu.Unlock()
	if _, err := e.cli.NetworkConnect(ctx, dn, client.NetworkConnectOptions{Container: n.id}); err != nil {
		return fmt.Errorf("connect %s to %s: %w", n.name, dn, err)
	}
	ins, err := e.cli.ContainerInspect(ctx, n.id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("connect %s to %s: %w", n.name, dn, err)
	}
	var ep string
	if ns := ins.Container.NetworkSettings; ns != nil && ns.Networks[dn] != nil {
		ep = net.HardwareAddr(ns.Networks[dn].MacAddress).String()
	}
	if ep == "" {
		return fmt.Errorf("connect %s to %s: the engine reports no MAC address for it", n.name, dn)
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", claimScript, "sh", ep, ifname, addr.String()}}); err != nil {
		return fmt.Errorf("connect %s to %s as %s %s: %w", n.name, network, ifname, addr, err)
	}
	return nil
}

// network returns the docker network of the cell's network, creating it
// and its veth pair on first use.
func (e *env) network(ctx context.Context, network string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if dn, ok := e.nets[network]; ok {
		return dn, nil
	}
	if e.closed {
		return "", errors.New("docker: environment already closed")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	base := "lab" + hex.EncodeToString(b)
	a, z := base+"a", base+"z"
	e.links = append(e.links, a)
	if err := makeVeth(a, z, e.prefix+"/"+network); err != nil {
		return "", fmt.Errorf("network %s: %w", network, err)
	}
	dn := e.prefix + "-" + network
	e.networks = append(e.networks, dn)
	_, err := e.cli.NetworkCreate(ctx, dn, client.NetworkCreateOptions{
		Driver:   "macvlan",
		Internal: true,
		Options:  map[string]string{"parent": a, "macvlan_mode": "bridge"},
		Labels:   map[string]string{LabelPrefix: e.prefix},
	})
	if err != nil {
		return "", fmt.Errorf("network %s: docker network create %s (macvlan on %s): %w", network, dn, a, err)
	}
	e.nets[network] = dn
	return dn, nil
}

// makeVeth creates the veth pair a-z on this host, both ends up with ARP
// off and no IPv6, so the host's stack ignores what crosses them.
func makeVeth(a, z, alias string) error {
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: z}); err != nil {
		return fmt.Errorf("create veth %s/%s: %w", a, z, err)
	}
	for _, name := range []string{a, z} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0o644)
		if err := netlink.LinkSetAlias(l, alias); err != nil {
			return fmt.Errorf("alias %s: %w", name, err)
		}
		if err := netlink.LinkSetARPOff(l); err != nil {
			return fmt.Errorf("arp off %s: %w", name, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("up %s: %w", name, err)
		}
	}
	return nil
}

// vethsOf lists this host's veth ends whose alias starts with prefix, and
// their aliases (PREFIX/NETWORK).
func vethsOf(prefix string) (names, aliases []string, err error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		at := l.Attrs()
		if l.Type() == "veth" && strings.HasPrefix(at.Name, "lab") && strings.HasPrefix(at.Alias, prefix) && strings.Contains(at.Alias, "/") {
			names, aliases = append(names, at.Name), append(aliases, at.Alias)
		}
	}
	return names, aliases, nil
}

// deleteLinks deletes veth ends (deleting one removes its peer).
func deleteLinks(names []string) error {
	var errs []error
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		if err != nil {
			continue // gone, or its peer's deletion took it
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, os.ErrNotExist) {
			if _, gone := netlink.LinkByName(name); gone != nil {
				continue
			}
			errs = append(errs, fmt.Errorf("delete link %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// isNotFound reports an engine "no such container/network" error.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
