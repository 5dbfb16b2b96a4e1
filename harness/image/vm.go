package image

// VMSuffix ends the name of a recipe's VM variant (debian-bookworm-vm).
const VMSuffix = "-vm"

// GuestAgentPath is where a VM image expects Lima's guest agent; the lima
// provider writes the binary into the VM disk it makes from the image.
const GuestAgentPath = "/usr/local/bin/lima-guestagent"

// VMPackages are what a VM variant adds to a recipe: Debian's cloud kernel
// (booted directly, no bootloader), its initramfs, an init, udev,
// cloud-init (Lima's NoCloud seed creates the user and its SSH key), growpart
// and the SSH server Lima talks to.
func VMPackages() []string {
	return []string{
		"linux-image-cloud-amd64", "initramfs-tools", "systemd-sysv", "udev", "kmod",
		"cloud-init", "cloud-guest-utils", "e2fsprogs", "openssh-server", "sudo", "iputils-ping",
	}
}

// cloudCfg keeps cloud-init to what Lima's seed needs (the user and its
// key, host keys, /etc/hosts, Lima's per-boot script): under TCG every
// module costs seconds, and locale generation alone most of a minute.
const cloudCfg = `network: {config: disabled}
datasource_list: [NoCloud, None]
manage_etc_hosts: localhost
cloud_init_modules: [seed_random, bootcmd, write_files, set_hostname, update_hostname, update_etc_hosts, users_groups, ssh]
cloud_config_modules: [runcmd]
cloud_final_modules: [scripts_per_once, scripts_per_boot, scripts_per_instance, scripts_user, final_message]
`

// vmFiles configure a VM image for Lima on QEMU: Lima's user-mode NIC (MAC
// 52:55:55:*) is named lima0 and configured by systemd-networkd, so eth0 and
// every other name stays free for the lab's networks; cloud-init writes no
// network configuration; the guest agent runs as a system service from the
// first boot (under TCG Lima v1.2.1 can lose the agent's socket forward
// while its boot scripts would install it); the lima provider writes the
// unit's transport for its host into the VM disk (harness/limaprov).
func vmFiles() []File {
	return []File{
		{Path: "/etc/fstab", Content: "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n"},
		{Path: "/etc/udev/rules.d/70-lab-lima0.rules",
			Content: `SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:55:55:*", NAME="lima0"` + "\n"},
		{Path: "/etc/systemd/network/10-lima0.network",
			Content: "[Match]\nName=lima0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"},
		{Path: "/etc/cloud/cloud.cfg.d/99-lab.cfg", Content: cloudCfg},
		{Path: "/etc/systemd/system/lima-guestagent.service",
			Content: "[Unit]\nDescription=lima-guestagent (baked into the lab's VM image)\n\n[Service]\n" +
				"ExecStart=" + GuestAgentPath + " daemon --virtio-port io.lima-vm.guest_agent.0\n" +
				"Type=simple\nRestart=always\nRestartSec=1\nOOMPolicy=continue\nOOMScoreAdjust=-500\n\n" +
				"[Install]\nWantedBy=multi-user.target\n"},
	}
}

// VM returns the VM variant of r: the same suite, packages and setup plus
// VMPackages and the configuration Lima needs (see vmFiles), named
// r.Name+VMSuffix. Its hash, and so its directory, differ from r's.
func VM(r *Recipe) *Recipe {
	v := *r
	v.Name = r.Name + VMSuffix
	v.Description = r.Description + " (VM variant: cloud kernel, cloud-init, guest agent service)"
	v.AptPackages = append(append([]string(nil), r.AptPackages...), VMPackages()...)
	v.Setup.Files = append(append([]File(nil), r.Setup.Files...), vmFiles()...)
	v.Setup.Run = append([]string{
		"systemctl enable systemd-networkd.service ssh.service lima-guestagent.service",
		"systemctl mask systemd-networkd-wait-online.service",
		// Daemons the lab starts itself when a profile says so (firewalld).
		"systemctl disable firewalld.service 2>/dev/null || true",
		"ln -sf /dev/null /etc/systemd/system/serial-getty@ttyS0.service",
	}, r.Setup.Run...)
	return &v
}
