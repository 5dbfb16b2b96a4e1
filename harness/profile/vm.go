package profile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Drivers a profile may select (Profile.Driver).
const (
	// DriverSim is the simulation driver (harness/sim): the default.
	DriverSim = "sim"
	// DriverMicroK8s drives the real snap in a virtual machine
	// (harness/microk8s): real infrastructure only (LXD VMs, see vm).
	DriverMicroK8s = "microk8s"
)

// VM pins a virtual-machine node of real infrastructure: the cloud image
// LXD boots, the kernel package installed and booted into, extra
// packages, and the instance's limits. The snap itself is pinned by
// microk8s.channel and microk8s.revision.
type VM struct {
	// Image is the LXD image the VM boots: an alias on a remote
	// ("ubuntu:24.04", "images:debian/12/cloud"); it must carry
	// cloud-init (the kernel and snap are installed through it).
	Image string `yaml:"image"`
	// KernelPackage is the distribution's kernel package installed and
	// booted into (linux-image-6.8.0-57-generic); "": the image's kernel.
	KernelPackage string `yaml:"kernel_package"`
	// Packages are extra distribution packages installed before the snap.
	Packages []string `yaml:"packages"`
	// CPUs and Memory are LXD's limits.cpu and limits.memory (0 and "":
	// LXD's defaults, 1 CPU and 1GiB, too small for MicroK8s).
	CPUs   int    `yaml:"cpus"`
	Memory string `yaml:"memory"`
	// Disk is the root disk's size ("": the pool's default).
	Disk string `yaml:"disk"`
}

// KernelRelease is the release `uname -r` shows after booting the kernel
// package (linux-image-RELEASE), "" when none is pinned.
func (v VM) KernelRelease() string {
	return strings.TrimPrefix(v.KernelPackage, "linux-image-")
}

// Enabled reports whether the profile pins a VM.
func (v VM) Enabled() bool { return v.Image != "" }

var (
	vmImageRE   = regexp.MustCompile(`^([a-z0-9][a-z0-9.-]*:)?[A-Za-z0-9][A-Za-z0-9._/-]*$`)
	kernelPkgRE = regexp.MustCompile(`^linux-image-[0-9]+\.[0-9]+[0-9a-z.+~-]*$`)
	debPkgRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$`)
	sizeRE      = regexp.MustCompile(`^[1-9][0-9]*(MiB|GiB|TiB|MB|GB|TB)$`)
	channelRE   = regexp.MustCompile(`^([0-9]+\.[0-9]+|latest)(/(stable|candidate|beta|edge)(/[a-z0-9-]+)?)?$`)
)

func checkDriver(v string) error {
	if v != DriverSim && v != DriverMicroK8s {
		return fmt.Errorf("%q: use %s (the default) or %s (the real snap in an LXD VM)", v, DriverSim, DriverMicroK8s)
	}
	return nil
}

func checkVMImage(v string) error {
	if !vmImageRE.MatchString(v) {
		return fmt.Errorf("%q is not an LXD image like ubuntu:24.04 or images:debian/12/cloud", v)
	}
	if remote, _, ok := strings.Cut(v, ":"); ok {
		if _, known := ImageRemote(remote); !known {
			return fmt.Errorf("%q: unknown image remote %q; use one of lxc's default remotes (%s) or an alias on the daemon", v, remote, strings.Join(ImageRemoteNames(), ", "))
		}
	}
	return nil
}

// ImageRemote is the simplestreams URL of one of the image remotes the
// lxc client knows by default (canonical/lxd lxc/config/default.go).
func ImageRemote(name string) (url string, ok bool) {
	switch name {
	case "ubuntu":
		return "https://cloud-images.ubuntu.com/releases/", true
	case "ubuntu-daily":
		return "https://cloud-images.ubuntu.com/daily/", true
	case "ubuntu-minimal":
		return "https://cloud-images.ubuntu.com/minimal/releases/", true
	case "ubuntu-minimal-daily":
		return "https://cloud-images.ubuntu.com/minimal/daily/", true
	case "images":
		return "https://images.lxd.canonical.com", true
	}
	return "", false
}

// ImageRemoteNames lists the remotes ImageRemote knows.
func ImageRemoteNames() []string {
	return []string{"images", "ubuntu", "ubuntu-daily", "ubuntu-minimal", "ubuntu-minimal-daily"}
}

func checkKernelPackage(v string) error {
	if !kernelPkgRE.MatchString(v) {
		return fmt.Errorf("%q is not a kernel package like linux-image-6.8.0-57-generic", v)
	}
	return nil
}

func checkPackage(v string) error {
	if !debPkgRE.MatchString(v) {
		return fmt.Errorf("%q is not a package name (lower case, optionally =VERSION)", v)
	}
	return nil
}

func checkSize(v string) error {
	if !sizeRE.MatchString(v) {
		return fmt.Errorf("%q is not a size like 4GiB", v)
	}
	return nil
}

func checkCPUs(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 256 {
		return fmt.Errorf("%q is not a CPU count from 1 to 256", v)
	}
	return nil
}

func checkChannel(v string) error {
	if !channelRE.MatchString(v) {
		return fmt.Errorf("%q is not a snap channel like 1.32/stable", v)
	}
	return nil
}

// vmFieldChecks are the value checks of the driver and vm fields (merged
// into fieldChecks).
func vmFieldChecks() map[string]fieldCheck {
	return map[string]fieldCheck{
		"driver":            checkDriver,
		"vm.image":          checkVMImage,
		"vm.kernel_package": checkKernelPackage,
		"vm.packages[]":     checkPackage,
		"vm.cpus":           checkCPUs,
		"vm.memory":         checkSize,
		"vm.disk":           checkSize,
		"microk8s.channel":  checkChannel,
	}
}

// validateVM checks the driver and vm fields of a merged profile: the
// microk8s driver needs a VM and a pinned snap (channel and revision).
func (p *Profile) validateVM() error {
	checks := vmFieldChecks()
	for field, v := range map[string]string{"driver": p.Driver, "vm.image": p.VM.Image,
		"vm.kernel_package": p.VM.KernelPackage, "vm.memory": p.VM.Memory, "vm.disk": p.VM.Disk,
		"microk8s.channel": p.MicroK8s.Channel} {
		if v != "" {
			if err := checks[field](v); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
	}
	for _, pkg := range p.VM.Packages {
		if err := checkPackage(pkg); err != nil {
			return fmt.Errorf("vm.packages: %w", err)
		}
	}
	if p.VM.CPUs != 0 {
		if err := checkCPUs(strconv.Itoa(p.VM.CPUs)); err != nil {
			return fmt.Errorf("vm.cpus: %w", err)
		}
	}
	if !p.VM.Enabled() && (p.VM.KernelPackage != "" || len(p.VM.Packages) > 0 || p.VM.CPUs != 0 || p.VM.Memory != "" || p.VM.Disk != "") {
		return fmt.Errorf("vm: set vm.image (the LXD image the VM boots, e.g. ubuntu:24.04) or remove the vm fields")
	}
	if p.Driver != DriverMicroK8s {
		return nil
	}
	switch {
	case !p.VM.Enabled():
		return fmt.Errorf("driver: microk8s installs the real snap in a VM: set vm.image (e.g. ubuntu:24.04) or use driver: sim")
	case p.MicroK8s.Channel == "" || p.MicroK8s.Revision <= 0:
		return fmt.Errorf("driver: microk8s needs the snap pinned: set microk8s.channel (1.32/stable) and microk8s.revision (7731)")
	}
	return nil
}

// NeedsVM reports whether the profile's cells need a virtual machine
// (the microk8s driver, or a pinned VM): only a provider that runs VMs
// (lxd with --lxd-type virtual-machine on real infrastructure) can run them.
func (p *Profile) NeedsVM() bool { return p.Driver == DriverMicroK8s || p.VM.Enabled() }
