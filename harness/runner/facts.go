package runner

import (
	"sort"

	"lab/harness/agent"
	"lab/harness/kernel"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/results"
)

// Pinned returns what the profile pins but the cell does not run for real
// (profile.Profile.Pinned): the profile's assumptions, shown apart from what
// ran.
func Pinned(p *profile.Profile) map[string]string { return p.Pinned() }

// PinnedSources returns the upstream source of each pinned fact the
// profile gives one for (sources:), shown next to it on the cell page.
func PinnedSources(p *profile.Profile) map[string]string {
	out := map[string]string{}
	for k := range p.Pinned() {
		if u := p.Sources[k]; u != "" {
			out[k] = u
		}
	}
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
