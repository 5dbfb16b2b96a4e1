package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"lab/harness/firewalld"
)

// A node whose profile enables firewalld runs the real daemon (harness/
// firewalld) in its network namespace from boot, with a private bus and
// mount namespace under the node's state directory; it is stopped when the
// cell closes. Every process the lab runs on a node, firewall-cmd included,
// gets DBUS_SYSTEM_BUS_ADDRESS pointing at that private bus (see NodeEnv),
// so nothing run on a node ever reaches the host's D-Bus or firewalld: on a
// node without firewalld the socket does not exist and firewall-cmd fails.

// firewalldDir is the firewalld state directory of the node whose state
// directory is nodeDir.
func firewalldDir(nodeDir string) string { return filepath.Join(nodeDir, "firewalld") }

// BusEnv returns the DBUS_SYSTEM_BUS_ADDRESS setting of the node whose state
// directory is nodeDir: its private system bus, which exists only while the
// node's firewalld runs.
func BusEnv(nodeDir string) string {
	abs, err := filepath.Abs(nodeDir)
	if err != nil {
		abs = nodeDir
	}
	return "DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + filepath.Join(firewalldDir(abs), "run", "dbus", "system_bus_socket")
}

// daemons is the cell's running firewalld instances by node, kept in Ext.
type daemons struct {
	mu sync.Mutex
	by map[string]*firewalld.Daemon
}

func (c *Cluster) daemons() *daemons {
	return c.Ext("firewalld", func() any { return &daemons{by: map[string]*firewalld.Daemon{}} }).(*daemons)
}

// startFirewalld starts firewalld on a booting node when the profile
// enables it, with the profile's default zone; the nftables backend is the
// only one firewalld 1.x ships enabled. It is stopped by Cluster.Close.
func (c *Cluster) startFirewalld(ctx context.Context, n *Node, nodeDir string) error {
	fw := c.prof.Firewalld
	if !fw.Enabled {
		return nil
	}
	if fw.Backend != "" && fw.Backend != "nftables" {
		return fmt.Errorf("profile %s: firewalld.backend %q: the lab runs firewalld with the nftables backend only", c.prof.Name, fw.Backend)
	}
	d, err := firewalld.Start(ctx, n.NetNS(), firewalldDir(nodeDir))
	c.OnClose(func() { _ = d.Stop(context.Background()) })
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name(), err)
	}
	reg := c.daemons()
	reg.mu.Lock()
	reg.by[n.Name()] = d
	reg.mu.Unlock()
	if fw.DefaultZone != "" && fw.DefaultZone != "public" {
		if _, err := d.Cmd(ctx, "--set-default-zone="+fw.DefaultZone); err != nil {
			return fmt.Errorf("node %s: firewalld default zone %s: %w", n.Name(), fw.DefaultZone, err)
		}
	}
	return nil
}

// Firewalld returns the node's firewalld, if its profile runs one.
func (n *Node) Firewalld() (*firewalld.Daemon, bool) {
	reg := n.cluster.daemons()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	d, ok := reg.by[n.Name()]
	return d, ok
}
