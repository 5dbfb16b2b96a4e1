package sim

import (
	"context"
	"fmt"
	"net/netip"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/netns"
)

// AddHostPortPod creates a pod on the routed network serving HTTP (and UDP)
// on each container port and publishes its hostPorts with the real portmap
// plugin, chained after the pod's wiring as in Calico's conflist (snat on);
// it returns the pod's IPv4 address.
func (r *RoutedNet) AddHostPortPod(ctx context.Context, name string, ports []cni.PortMapping) (netip.Addr, error) {
	if len(ports) == 0 {
		return netip.Addr{}, fmt.Errorf("pod %s: no hostPorts", name)
	}
	p, err := r.AddPod(ctx, name, ports[0].ContainerPort)
	if err != nil {
		return netip.Addr{}, err
	}
	n := r.node
	seen := map[int]bool{ports[0].ContainerPort: true}
	var more []int
	for _, pm := range ports {
		if !seen[pm.ContainerPort] {
			seen[pm.ContainerPort] = true
			more = append(more, pm.ContainerPort)
		}
	}
	if len(more) > 0 {
		if err := n.Call(ctx, agent.OpServe, agent.ServeArgs{Pod: p.NS, Ports: more, Ident: fmt.Sprintf("pod %s (%s)", name, addrList(p.Addrs))}, nil); err != nil {
			return netip.Addr{}, err
		}
	}
	if err := n.pushPlugins(ctx); err != nil {
		return netip.Addr{}, err
	}
	conf := cni.PortmapConfList(n.cluster.prof.CNI.Network, netns.Path(p.NS), p.Addrs)
	var res agent.CNIAddResult
	if err := n.Call(ctx, agent.OpPortmap, agent.CNIAddArgs{Pod: p.NS, ContainerID: newContainerID(), Conflist: conf,
		CacheDir: agent.Dir + "/cni-cache", Ports: ports}, &res); err != nil {
		return netip.Addr{}, fmt.Errorf("pod %s on %s: hostPorts: %w", name, n.Name(), err)
	}
	return res.IP, nil
}
