package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"lab/harness/agent"
)

// IngressRoute sends requests whose path starts with Path to Upstream.
type IngressRoute = agent.IngressRoute

// AddIngressPod creates a pod on the routed network and runs an ingress
// controller in it (in the node's agent: a real reverse proxy whose
// sockets live in the pod) on port with the given routes (longest path
// prefix wins; no match answers 404). The pod's Port is set to port, so
// Services can target it.
func (r *RoutedNet) AddIngressPod(ctx context.Context, name string, port int, routes []IngressRoute) (*RoutedPod, error) {
	if len(routes) == 0 {
		return nil, fmt.Errorf("ingress pod %s: no routes", name)
	}
	p, err := r.AddPod(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	if err := r.node.Call(ctx, agent.OpIngress, agent.IngressArgs{Pod: p.NS, Port: port, Routes: routes}, nil); err != nil {
		return nil, err
	}
	p.Port = port
	c := r.node.cluster
	c.mu.Lock()
	c.ingress[name] = r.node.Name()
	c.mu.Unlock()
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
