package sim

import (
	"context"
	"fmt"

	"lab/harness/execx"
	"lab/harness/firewalld"
	"lab/harness/netns"
)

// PodRunner runs commands inside a pod's network namespace, on its node
// with the node's environment (the profile's iptables variant first in
// PATH): `nsenter --net` into the namespace the agent created in the node.
type PodRunner struct {
	Node *Node
	// NS is the pod's namespace name inside the node.
	NS string
}

// Run runs c in the pod's network namespace.
func (r PodRunner) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	c.Argv = append([]string{"nsenter", "--net=" + netns.Path(r.NS), "--"}, c.Argv...)
	return r.Node.Run(ctx, c)
}

// PodRunner returns a runner for a pod (routed or hostPort) by name.
func (c *Cluster) PodRunner(pod string) (PodRunner, error) {
	s, err := c.Source(pod)
	if err != nil || s.Pod == "" {
		return PodRunner{}, fmt.Errorf("no pod %q in this scenario", pod)
	}
	return PodRunner{Node: s.Host, NS: s.Pod}, nil
}

// StopFirewalld stops a node's firewalld as `systemctl stop firewalld`
// does (SIGTERM: firewalld removes its own rules on exit), with its bus.
func (n *Node) StopFirewalld(ctx context.Context) error {
	d, ok := n.Firewalld()
	if !ok {
		return fmt.Errorf("firewalld is not running on %s (its profile %s has firewalld.enabled %v, or it was stopped)", n.Name(), n.cluster.prof.Name, n.cluster.prof.Firewalld.Enabled)
	}
	n.cluster.mu.Lock()
	delete(n.cluster.fwd, n.Name())
	n.cluster.mu.Unlock()
	return d.Stop(ctx)
}

// StartFirewalld starts a stopped firewalld again, as `systemctl start
// firewalld` does: a fresh daemon applying its configuration (and whatever
// its start does to other tables).
func (n *Node) StartFirewalld(ctx context.Context) error {
	if !n.cluster.prof.Firewalld.Enabled {
		return fmt.Errorf("node %s runs no firewalld: its profile %s has firewalld.enabled false", n.Name(), n.cluster.prof.Name)
	}
	if _, ok := n.Firewalld(); ok {
		return fmt.Errorf("firewalld is already running on %s", n.Name())
	}
	d, err := firewalld.Start(ctx, n)
	n.cluster.OnClose(func() { _ = d.Stop(context.Background()) })
	if err != nil {
		return err
	}
	n.cluster.mu.Lock()
	n.cluster.fwd[n.Name()] = &firewalldOf{d: d}
	n.cluster.mu.Unlock()
	if z := n.cluster.prof.Firewalld.DefaultZone; z != "" && z != "public" {
		if _, err := d.Cmd(ctx, "--set-default-zone="+z); err != nil {
			return fmt.Errorf("node %s: firewalld default zone %s: %w", n.Name(), z, err)
		}
	}
	return nil
}

// PodRunner runs commands in a pod's network namespace.
func (d Driver) PodRunner(pod string) (execx.Runner, error) {
	r, err := d.c.PodRunner(pod)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// StopFirewalld stops a node's firewalld.
func (d Driver) StopFirewalld(ctx context.Context, node string) error {
	n, err := d.node(node)
	if err != nil {
		return err
	}
	return n.StopFirewalld(ctx)
}

// StartFirewalld starts a node's stopped firewalld.
func (d Driver) StartFirewalld(ctx context.Context, node string) error {
	n, err := d.node(node)
	if err != nil {
		return err
	}
	return n.StartFirewalld(ctx)
}
