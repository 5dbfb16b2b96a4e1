package lxdprov

import (
	"fmt"
	"strconv"
	"strings"

	"lab/harness/profile"

	"github.com/canonical/lxd/shared/api"
	"gopkg.in/yaml.v3"
)

// vmSource is the instance source of a profile's vm.image.
func vmSource(img string) (api.InstanceSource, error) {
	remote, alias, ok := strings.Cut(img, ":")
	if !ok {
		return api.InstanceSource{Type: "image", Alias: img}, nil
	}
	server, known := profile.ImageRemote(remote)
	if !known {
		return api.InstanceSource{}, fmt.Errorf("vm.image %q: unknown image remote %q; use one of lxc's default remotes (%s) or an alias on the daemon", img, remote, strings.Join(profile.ImageRemoteNames(), ", "))
	}
	return api.InstanceSource{Type: "image", Alias: alias, Server: server, Protocol: "simplestreams", Mode: "pull"}, nil
}

// bootKernel is installed by cloud-init as /usr/local/sbin/lab-boot-kernel:
// it makes GRUB boot /boot/vmlinuz-RELEASE by default (GRUB otherwise
// boots the newest installed kernel, not the pinned one), by the menu
// titles update-grub wrote.
const bootKernel = `#!/bin/sh
# lab-boot-kernel RELEASE: boot /boot/vmlinuz-RELEASE by default.
set -eu
rel=$1
boot=${LAB_BOOT:-/boot} cfg=${LAB_GRUB_CFG:-/boot/grub/grub.cfg} grubd=${LAB_GRUB_D:-/etc/default/grub.d}
test -e "$boot/vmlinuz-$rel" || { echo "lab-boot-kernel: $boot/vmlinuz-$rel is not installed" >&2; exit 1; }
update-grub
sub=$(awk -F"'" '/^submenu /{print $2; exit}' "$cfg")
entry=$(awk -F"'" -v t="with Linux $rel" '/^[[:space:]]*menuentry / && substr($2, length($2)-length(t)+1) == t {print $2; exit}' "$cfg")
test -n "$entry" || { echo "lab-boot-kernel: no GRUB entry for $rel in $cfg" >&2; exit 1; }
mkdir -p "$grubd"
echo "GRUB_DEFAULT=\"${sub:+$sub>}$entry\"" > "$grubd/99-lab-kernel.cfg"
update-grub
`

// cloudConfig is the cloud-init user-data of a VM node (the subset of
// cloud-config the lab writes).
type cloudConfig struct {
	PackageUpdate bool        `yaml:"package_update"`
	Packages      []string    `yaml:"packages"`
	WriteFiles    []writeFile `yaml:"write_files,omitempty"`
	RunCmd        [][]string  `yaml:"runcmd,omitempty"`
	PowerState    *powerState `yaml:"power_state,omitempty"`
}

type writeFile struct {
	Path        string `yaml:"path"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
}

type powerState struct {
	Mode      string `yaml:"mode"`
	Message   string `yaml:"message"`
	Condition bool   `yaml:"condition"`
}

// userData is the cloud-init user-data of a VM node of prof: the
// packages (snapd, the pinned kernel, vm.packages) installed on first
// boot and, with a pinned kernel, GRUB set to boot it and a reboot into
// it. The snap itself is the microk8s driver's to install.
func userData(prof *profile.Profile) (string, error) {
	cc := cloudConfig{PackageUpdate: true, Packages: []string{"snapd"}}
	if k := prof.VM.KernelPackage; k != "" {
		cc.Packages = append(cc.Packages, k)
		rel := prof.VM.KernelRelease()
		cc.WriteFiles = []writeFile{{Path: "/usr/local/sbin/lab-boot-kernel", Permissions: "0755", Content: bootKernel}}
		cc.RunCmd = [][]string{{"/usr/local/sbin/lab-boot-kernel", rel}}
		cc.PowerState = &powerState{Mode: "reboot", Message: "lab: rebooting into " + rel, Condition: true}
	}
	cc.Packages = append(cc.Packages, prof.VM.Packages...)
	out, err := yaml.Marshal(cc)
	if err != nil {
		return "", err
	}
	return "#cloud-config\n# lab profile " + prof.Name + "\n" + string(out), nil
}

// userDataKey is the instance config key cloud-init reads user-data
// from: cloud-init.user-data on daemons with the cloud_init API extension
// (LXD 5.5+), user.user-data before.
func userDataKey(hasCloudInit bool) string {
	if hasCloudInit {
		return "cloud-init.user-data"
	}
	return "user.user-data"
}

// vmRequest is the creation request of a VM node: the profile's image,
// the daemon's default profile (root disk and an uplink NIC: the VM needs
// the archive and the snap store), limits, the root disk's size on pool,
// the run's prefix and cloud-init's user-data.
func vmRequest(prof *profile.Profile, prefix, name, inst, pool string, hasCloudInit bool) (api.InstancesPost, error) {
	src, err := vmSource(prof.VM.Image)
	if err != nil {
		return api.InstancesPost{}, err
	}
	ud, err := userData(prof)
	if err != nil {
		return api.InstancesPost{}, err
	}
	cfg := map[string]string{
		"user.lab.prefix": prefix, "user.lab.node": name, "user.lab.profile": prof.Name,
		userDataKey(hasCloudInit): ud,
	}
	if prof.VM.CPUs > 0 {
		cfg["limits.cpu"] = strconv.Itoa(prof.VM.CPUs)
	}
	if prof.VM.Memory != "" {
		cfg["limits.memory"] = prof.VM.Memory
	}
	devices := map[string]map[string]string{}
	if prof.VM.Disk != "" {
		devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": pool, "size": prof.VM.Disk}
	}
	return api.InstancesPost{
		Name: inst, Type: api.InstanceTypeVM, Source: src,
		InstancePut: api.InstancePut{
			Profiles: []string{"default"}, Config: cfg, Devices: devices,
			Description: "lab cell " + prefix + " node " + name + " (VM)",
		},
	}, nil
}
