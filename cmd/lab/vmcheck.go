package main

import (
	"lab/harness/feature"
	"lab/harness/profile"
	"lab/harness/provider"
)

// vmProvider is the provider whose nodes are LXD virtual machines (real
// infrastructure only).
const vmProvider = "lxd-vm"

// checkVMCells refuses, before anything boots, a cell whose profile needs
// a VM (driver: microk8s, or vm.image) on a provider other than lxd-vm,
// and a cell on lxd-vm whose profile pins no VM.
func checkVMCells(d dirs, cells []feature.Cell, provs []provider.Provider) error {
	seen := map[string]bool{}
	for _, c := range cells {
		if seen[c.Profile] {
			continue
		}
		seen[c.Profile] = true
		prof, err := profile.Load(d.images, c.Profile)
		if err != nil {
			return usagef("%v", err)
		}
		for _, p := range provs {
			switch {
			case prof.NeedsVM() && p.Name() != vmProvider:
				return usagef("profile %s (driver %s, vm.image %q) runs only on --provider %s (LXD virtual machines on real infrastructure), not %s: pick that provider or drop the profile (--profile)",
					prof.Name, prof.Driver, prof.VM.Image, vmProvider, p.Name())
			case p.Name() == vmProvider && !prof.VM.Enabled():
				return usagef("--provider %s boots the profile's VM, and profile %s pins none: set vm.image (and driver: microk8s for the real snap) in %s, or use another provider",
					vmProvider, prof.Name, prof.File)
			}
		}
	}
	return nil
}
