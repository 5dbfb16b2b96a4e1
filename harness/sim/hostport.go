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
	if more := containerPorts(ports)[1:]; len(more) > 0 {
		if err := r.node.Call(ctx, agent.OpServe, agent.ServeArgs{Pod: p.NS, Ports: more, Ident: fmt.Sprintf("pod %s (%s)", name, addrList(p.Addrs))}, nil); err != nil {
			return netip.Addr{}, err
		}
	}
	return r.publish(ctx, p, ports)
}

// containerPorts returns the distinct container ports of ports, in order.
func containerPorts(ports []cni.PortMapping) []int {
	seen := map[int]bool{}
	var out []int
	for _, pm := range ports {
		if !seen[pm.ContainerPort] {
			seen[pm.ContainerPort] = true
			out = append(out, pm.ContainerPort)
		}
	}
	return out
}

// publish publishes a routed pod's hostPorts with the real portmap plugin,
// chained after the pod's wiring as in Calico's conflist (snat on), and
// returns the pod's IPv4 address as the plugin chain reports it.
func (r *RoutedNet) publish(ctx context.Context, p *RoutedPod, ports []cni.PortMapping) (netip.Addr, error) {
	n := r.node
	if err := n.pushPlugins(ctx); err != nil {
		return netip.Addr{}, err
	}
	conf := cni.PortmapConfList(cni.CalicoNetwork, netns.Path(p.NS), p.Addrs)
	var res agent.CNIAddResult
	if err := n.Call(ctx, agent.OpPortmap, agent.CNIAddArgs{Pod: p.NS, ContainerID: newContainerID(), Conflist: conf,
		CacheDir: agent.Dir + "/cni-cache", Ports: ports}, &res); err != nil {
		return netip.Addr{}, fmt.Errorf("pod %s on %s: hostPorts: %w", p.Name, n.Name(), err)
	}
	return res.IP, nil
}
