package sim

import (
	"context"
	"fmt"
	"time"

	"lab/harness/firewalld"
	"lab/harness/timing"
)

// A node whose profile enables firewalld runs the real daemon in the node
// from boot, on the node's own system bus (harness/firewalld); it is stopped
// when the cell closes. firewall-cmd run on the node reaches that daemon
// only: the node's /run, and so its bus socket, are the node's own.

// firewalldOf is a node's firewalld, when its profile runs one.
type firewalldOf struct{ d *firewalld.Daemon }

// startFirewalld starts firewalld on a booting node when the profile
// enables it, with the profile's default zone; the nftables backend is the
// only one firewalld 1.x ships enabled.
func (c *Cluster) startFirewalld(ctx context.Context, n *Node) error {
	fw := c.prof.Firewalld
	if !fw.Enabled {
		return nil
	}
	if fw.Backend != "" && fw.Backend != "nftables" {
		return fmt.Errorf("profile %s: firewalld.backend %q: the lab runs firewalld with the nftables backend only", c.prof.Name, fw.Backend)
	}
	started := time.Now()
	d, err := firewalld.Start(ctx, n)
	c.opts.Timings.Add(timing.Wait, "firewalld start", n.Name(), started)
	c.OnClose(func() { _ = d.Stop(context.Background()) })
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.fwd[n.Name()] = &firewalldOf{d: d}
	c.mu.Unlock()
	if fw.DefaultZone != "" && fw.DefaultZone != "public" {
		if _, err := d.Cmd(ctx, "--set-default-zone="+fw.DefaultZone); err != nil {
			return fmt.Errorf("node %s: firewalld default zone %s: %w", n.Name(), fw.DefaultZone, err)
		}
	}
	return nil
}

// Firewalld returns the node's firewalld, if its profile runs one.
func (n *Node) Firewalld() (*firewalld.Daemon, bool) {
	n.cluster.mu.Lock()
	defer n.cluster.mu.Unlock()
	f, ok := n.cluster.fwd[n.Name()]
	if !ok {
		return nil, false
	}
	return f.d, true
}
