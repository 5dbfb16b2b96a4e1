package sim

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"lab/harness/agent"
	"lab/harness/execx"
	"lab/harness/profile"
)

// nodeNetwork applies a profile's node network settings when a MicroK8s
// node boots: its sysctls (in the node's network namespace, through the
// agent) and its uplink MTU (the public interface, eth0).
func (c *Cluster) nodeNetwork(ctx context.Context, n *Node) error {
	if len(c.prof.Sysctls) > 0 {
		set := map[string]string{}
		keys := make([]string, 0, len(c.prof.Sysctls))
		for k, v := range c.prof.Sysctls {
			set[profile.SysctlPath(k)] = v
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if err := n.Call(ctx, agent.OpSysctl, agent.SysctlArgs{Set: set}, nil); err != nil {
			return fmt.Errorf("profile %s: sysctls (%s) on %s: %w; the provider may not let a node set it", c.prof.Name, strings.Join(keys, ", "), n.Name(), err)
		}
	}
	if c.prof.UplinkMTU > 0 {
		argv := []string{"ip", "link", "set", "eth0", "mtu", strconv.Itoa(c.prof.UplinkMTU)}
		if _, err := n.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("profile %s: uplink_mtu on %s: %w", c.prof.Name, n.Name(), err)
		}
	}
	return nil
}
