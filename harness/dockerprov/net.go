package dockerprov

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"lab/harness/netns"
	"lab/harness/node"

	cerrdefs "github.com/containerd/errdefs"
	vns "github.com/vishvananda/netns"
)

// Networks. Containers start with the engine's network mode "none" (only
// lo), and each network of a cell is a Linux bridge in a per-cell fabric
// namespace (PREFIX-fabric), wired to a container with a veth pair whose
// inner end is created directly in the container's network namespace,
// named ifname and given the cell's address. Nothing is created in the
// host's own network namespace. Why not docker networks (bridge or
// macvlan):
//   - every cell has the same public network (198.51.100.0/24): the
//     engine's IPAM refuses overlapping subnets across networks, and a
//     bridge network puts a gateway address of it on the host;
//   - a docker bridge's frames pass the host's iptables FORWARD
//     (br_netfilter), its shared conntrack and Docker's isolation rules
//     (an internal bridge drops every source outside its subnet: pod IPs
//     routed between nodes); the bridge driver also fails outright when a
//     ruleset flush on the host removed Docker's chains (seen here);
//   - creating any network makes dockerd re-arrange the host's FORWARD
//     chain (the DOCKER-USER jump), and containers on the default bridge
//     add veths to the host: the host must stay as it was;
//   - user-defined networks bring Docker's embedded DNS, whose NAT rules
//     sit in the node's own netfilter (and vanish on a firewalld reload);
//     nodes are addressed by IP only;
//   - the engine names the interfaces of connected networks eth1, eth2...
//     in its own order, not the driver's.
//
// This needs the lab to run as root beside the engine (it enters the
// container's network namespace through its PID), as the exec kill does.

// fabric returns the cell's fabric namespace, creating it on first use.
func (e *env) fabric(ctx context.Context) (*netns.Fabric, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fab != nil {
		return e.fab, nil
	}
	if e.closed {
		return nil, errors.New("docker: environment already closed")
	}
	name := e.prefix + "-fabric"
	e.namespaces = append(e.namespaces, name)
	p, err := netns.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	e.fab = &netns.Fabric{Path: p}
	return e.fab, nil
}

// Connect attaches the node to the cell's network (created on first use)
// as ifname with addr.
func (e *env) Connect(ctx context.Context, nd node.Node, network, ifname string, addr netip.Prefix) error {
	n, ok := nd.(*dkNode)
	if !ok {
		return fmt.Errorf("connect %s: not a node of the docker provider", nd.Name())
	}
	wrap := func(err error) error { return fmt.Errorf("connect %s to %s as %s: %w", n.name, network, ifname, err) }
	fab, err := e.fabric(ctx)
	if err != nil {
		return wrap(err)
	}
	cns, err := vns.GetFromPid(n.pid)
	if err != nil {
		return wrap(fmt.Errorf("container %s's network namespace (pid %d): %w", n.id[:12], n.pid, err))
	}
	defer cns.Close()
	if err := fab.Attach(cns, network, ifname, addr); err != nil {
		return wrap(err)
	}
	return nil
}

// deleteNamespaces deletes fabric namespaces (their bridges and veth ends
// go with them).
func deleteNamespaces(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		errs = append(errs, netns.Delete(ctx, n))
	}
	return errors.Join(errs...)
}

// isNotFound reports an engine "no such container/network" error.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
