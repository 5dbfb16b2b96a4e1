package profile

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// DefaultIptablesModeSource is the source of the default iptables.mode,
// legacy: the MicroK8s snap builds its own iptables 1.8.6
// (snap/snapcraft.yaml, part iptables), whose `iptables` is
// xtables-legacy-multi, and kube-proxy and Calico use it.
const DefaultIptablesModeSource = "https://github.com/canonical/microk8s/blob/v1.32/snap/snapcraft.yaml"

// Pinned returns the facts the profile pins but a cell does not run for
// real, by name (a distro name, a MicroK8s release and snap revision, a
// kernel the node does not boot): what a cell page shows as the profile's
// assumptions, apart from what was measured in the node. Empty values are
// left out; a MicroK8s release without a revision shows snap_revision
// "unknown" (the affected range of a regression is by revision).
func (p *Profile) Pinned() map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" && v != "0" {
			out[k] = v
		}
	}
	set("profile", p.Name)
	set("distro", strings.TrimSpace(p.Distro.Name+" "+p.Distro.Version))
	set("microk8s", p.MicroK8s.Version)
	switch {
	case p.MicroK8s.Revision != 0:
		set("snap_revision", fmt.Sprint(p.MicroK8s.Revision))
	case p.MicroK8s.Version != "":
		set("snap_revision", "unknown")
	}
	set("kubernetes", p.MicroK8s.Kubernetes)
	set("cni_plugins", p.CNI.PluginsVersion)
	set("iptables_mode", p.Iptables.Mode)
	set("kernel", p.Kernel.Release)
	var hidden []string
	for _, h := range p.Kernel.Hidden() {
		hidden = append(hidden, h.String())
	}
	set("kernel_missing", strings.Join(hidden, ","))
	if p.Firewalld.Enabled {
		set("firewalld", "enabled, backend "+p.Firewalld.Backend)
	}
	set("provider_firewall", p.ProviderFirewall.Name)
	for _, v := range slices.Sorted(maps.Keys(p.Iptables.HostForwardPolicy)) {
		set("host_forward_policy_"+v, p.Iptables.HostForwardPolicy[v])
	}
	set("nat_port_range", p.CNI.NATPortRange)
	// the node network the profile asks for; the cell's ran facts read it
	// back inside each node (sysctl KEY, uplink_mtu, pod_mtu, kube_proxy)
	for k, v := range p.Sysctls {
		set("sysctl "+k, v)
	}
	set("uplink_mtu", fmt.Sprint(p.UplinkMTU))
	set("pod_mtu", fmt.Sprint(p.CNI.MTU))
	set("kube_proxy_mode", p.KubeProxy.Mode)
	if p.Driver != DriverSim {
		set("driver", p.Driver)
	}
	set("vm_image", p.VM.Image)
	set("vm_kernel_package", p.VM.KernelPackage)
	return out
}

// MeasuredBy names the fact of a cell's Ran section (read inside the node)
// that measures the pinned fact name, "" when none does: the CNI plugins'
// module version is read from the pushed portmap binary's build info, the
// Kubernetes release and kube-proxy's mode are the kube-proxy binary the
// node ran and its flags, sysctls and MTUs are read back in each node
// (harness/sim).
func MeasuredBy(name string) string {
	switch name {
	case "cni_plugins":
		return "cni_plugins"
	case "kubernetes", "kube_proxy_mode":
		return "kube_proxy"
	case "uplink_mtu", "pod_mtu":
		return name
	}
	if strings.HasPrefix(name, "sysctl ") {
		return name
	}
	return ""
}

// Unsourced lists the pinned facts (Pinned, the profile's name and driver aside) that
// have neither a source in the profile nor a measurement in the node
// (MeasuredBy), and the sources that name no pinned fact, as messages.
func (p *Profile) Unsourced() []string {
	pinned := p.Pinned()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(pinned)) {
		// the profile's name and its driver are the lab's own choices, not
		// facts about the reported environment
		if k == "profile" || k == "driver" || p.Sources[k] != "" || MeasuredBy(k) != "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s: %q is neither measured in the node nor sourced; add sources.%s: URL (the thread, source file or package page it comes from)", p.File, k, pinned[k], k))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Sources)) {
		if _, ok := pinned[k]; !ok {
			out = append(out, fmt.Sprintf("%s: sources.%s: the profile pins no fact %q (pinned: %s)", p.File, k, k, strings.Join(slices.Sorted(maps.Keys(pinned)), ", ")))
		}
	}
	return out
}

// validateSources checks every source's name and URL.
func (p *Profile) validateSources() error {
	for _, k := range slices.Sorted(maps.Keys(p.Sources)) {
		if err := checkSourceKey(k); err != nil {
			return fmt.Errorf("sources: %w", err)
		}
		if err := checkSourceURL(p.Sources[k]); err != nil {
			return fmt.Errorf("sources.%s: %w", k, err)
		}
	}
	return nil
}

func checkSourceKey(v string) error {
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%q is not a fact name (lower case, digits, '_', e.g. snap_revision)", v)
		}
	}
	if v == "" {
		return fmt.Errorf("empty fact name")
	}
	return nil
}

func checkSourceURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL; give the upstream thread, source file or package page", v)
	}
	return nil
}
