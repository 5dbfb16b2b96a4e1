package sim

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"lab/harness/agent"
	"lab/harness/execx"
	"lab/harness/profile"
)

// linkRE matches one line of `ip -o link show`: the name (without @peer)
// and the MTU.
var linkRE = regexp.MustCompile(`^\d+: ([^:@ ]+)(?:@[^:]+)?: .* mtu (\d+) `)

// networkFacts reads back, inside a MicroK8s node, what the profile's
// network fields asked for, as the cell's ran facts: each sysctl of the
// profile ("sysctl KEY", from the node's /proc/sys), the uplink's MTU
// (eth0), the pods' MTU (the host ends of their veths, cali* or veth*:
// both CNI plugins set both ends), and the pod network's VXLAN device
// MTU. A value that cannot be read says why.
func (n *Node) networkFacts(ctx context.Context) map[string]string {
	f := map[string]string{}
	for k := range n.cluster.prof.Sysctls {
		var v string
		if err := n.Call(ctx, agent.OpReadFile, agent.ReadFileArgs{Path: "/proc/sys/" + profile.SysctlPath(k)}, &v); err != nil {
			f["sysctl "+k] = "unreadable: " + err.Error()
			continue
		}
		f["sysctl "+k] = strings.Join(strings.Fields(v), " ")
	}
	out, err := execx.Output(ctx, n, "ip", "-o", "link", "show")
	if err != nil {
		f["uplink_mtu"] = "unreadable: " + err.Error()
		return f
	}
	pods := map[string]int{}
	veths := 0
	for _, l := range strings.Split(out, "\n") {
		m := linkRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		switch name, mtu := m[1], m[2]; {
		case name == "eth0":
			f["uplink_mtu"] = mtu + " (eth0)"
		case name == "flannel.1" || name == "vxlan.calico":
			f["vxlan_mtu"] = mtu + " (" + name + ")"
		case strings.HasPrefix(name, "cali") || strings.HasPrefix(name, "veth"):
			pods[mtu]++
			veths++
		}
	}
	if veths > 0 {
		var vals []string
		for mtu := range pods {
			vals = append(vals, mtu)
		}
		sort.Strings(vals)
		f["pod_mtu"] = fmt.Sprintf("%s (host ends of %d pod veths)", strings.Join(vals, ","), veths)
	}
	return f
}
