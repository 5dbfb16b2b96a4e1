package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"lab/harness/agent"
	"lab/harness/cni"
)

// IngressRoute sends requests whose path starts with Path to Upstream.
type IngressRoute = agent.IngressRoute

// AddIngressPod creates a pod on the routed network and runs an ingress
// controller in it (in the node's agent: a real reverse proxy whose
// sockets live in the pod) on every container port of ports (plain HTTP
// on each) with the given routes (longest path prefix wins; no match
// answers 404). Mappings with a HostPort are published by the real portmap
// plugin as AddHostPortPod does (the ingress addon's DaemonSet publishes
// 80 and 443 so); HostPort 0 is a container port only. The pod's Port is
// the first container port, so Services can target it.
func (r *RoutedNet) AddIngressPod(ctx context.Context, name string, ports []cni.PortMapping, routes []IngressRoute) (*RoutedPod, error) {
	if len(routes) == 0 {
		return nil, fmt.Errorf("ingress pod %s: no routes", name)
	}
	cports := containerPorts(ports)
	if len(cports) == 0 {
		return nil, fmt.Errorf("ingress pod %s: no ports", name)
	}
	var published []cni.PortMapping
	for _, pm := range ports {
		if pm.Protocol != "" && pm.Protocol != "tcp" {
			return nil, fmt.Errorf("ingress pod %s: port %d/%s: the ingress controller serves TCP only", name, pm.ContainerPort, pm.Protocol)
		}
		if pm.HostPort != 0 {
			published = append(published, pm)
		}
	}
	p, err := r.AddPod(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	if err := r.node.Call(ctx, agent.OpIngress, agent.IngressArgs{Pod: p.NS, Ports: cports, Routes: routes}, nil); err != nil {
		return nil, err
	}
	p.Port = cports[0]
	c := r.node.cluster
	c.mu.Lock()
	c.ingress[name] = r.node.Name()
	c.mu.Unlock()
	if len(published) > 0 {
		if _, err := r.publish(ctx, p, published); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// IngressLogs returns the access and error logs of every ingress
// controller of the cell, for evidence.
func (c *Cluster) IngressLogs(ctx context.Context) string {
	c.mu.Lock()
	names := make([]string, 0, len(c.ingress))
	for n := range c.ingress {
		names = append(names, n)
	}
	c.mu.Unlock()
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		p, ok := c.RoutedPod(name)
		if !ok {
			continue
		}
		var log []string
		if err := p.Node.Call(ctx, agent.OpIngressLog, agent.PodArgs{Pod: p.NS}, &log); err != nil {
			log = []string{err.Error()}
		}
		fmt.Fprintf(&b, "\ningress %s log:\n%s\n", name, strings.Join(log, "\n"))
	}
	return b.String()
}
