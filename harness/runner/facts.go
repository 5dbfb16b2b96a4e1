package runner

import (
	"fmt"
	"sort"
	"strings"

	"lab/harness/agent"
	"lab/harness/kernel"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/results"
)

// Pinned returns what the profile pins but the cell does not run for real
// (a distro name, a MicroK8s release and snap revision, a kernel the node
// does not boot): the profile's assumptions, shown apart from what ran.
func Pinned(p *profile.Profile) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" && v != "0" {
			out[k] = v
		}
	}
	set("profile", p.Name)
	set("distro", strings.TrimSpace(p.Distro.Name+" "+p.Distro.Version))
	set("microk8s", p.MicroK8s.Version)
	set("snap_revision", fmt.Sprint(p.MicroK8s.Revision))
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
	if p.Driver != profile.DriverSim {
		set("driver", p.Driver)
	}
	set("vm_image", p.VM.Image)
	set("vm_kernel_package", p.VM.KernelPackage)
	return out
}

// recordRan stores the facts read inside each host as the cell's Ran
// section, and the pod networks the cell really built.
func recordRan(res *results.Cell, facts map[string]agent.Facts) {
	if len(facts) == 0 {
		return
	}
	res.Ran = map[string]map[string]string{}
	names := make([]string, 0, len(facts))
	for n := range facts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		res.Ran[n] = map[string]string(facts[n])
	}
}

// recordHiding records what the environment describes of itself
// (provider.EnvDescriber) and, for an environment whose nodes run a kernel of
// their own, which mechanism hid each of the profile's missing extensions:
// the node's kernel itself (kernel_hidden_by_kernel) or the kernel-profile
// library (kernel_hidden_by_library).
func recordHiding(res *results.Cell, env provider.Env) {
	if d, ok := env.(provider.EnvDescriber); ok {
		for k, v := range d.Describe() {
			res.Environment[k] = v
		}
	}
	kh, ok := env.(provider.KernelHider)
	if !ok {
		return
	}
	byKernel, byLibrary := kh.KernelHides()
	if len(byKernel) > 0 {
		res.Environment["kernel_hidden_by_kernel"] = kernel.EnvValue(byKernel)
	}
	if len(byLibrary) > 0 {
		res.Environment["kernel_hidden_by_library"] = kernel.EnvValue(byLibrary)
	}
}
