package lxdprov

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ubuntuGrubCfg is the shape of the menu update-grub writes on Ubuntu
// (grub's 10_linux: a default entry, then "Advanced options for Ubuntu"
// with one entry per kernel and its recovery mode, newest first).
const ubuntuGrubCfg = `menuentry 'Ubuntu' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-1234' {
	linux	/boot/vmlinuz-6.8.0-100-generic root=UUID=1234 ro
}
submenu 'Advanced options for Ubuntu' $menuentry_id_option 'gnulinux-advanced-1234' {
	menuentry 'Ubuntu, with Linux 6.8.0-100-generic' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-6.8.0-100-generic-advanced-1234' {
		linux	/boot/vmlinuz-6.8.0-100-generic root=UUID=1234 ro
	}
	menuentry 'Ubuntu, with Linux 6.8.0-100-generic (recovery mode)' --class ubuntu $menuentry_id_option 'gnulinux-6.8.0-100-generic-recovery-1234' {
		linux	/boot/vmlinuz-6.8.0-100-generic root=UUID=1234 ro recovery nomodeset
	}
	menuentry 'Ubuntu, with Linux 6.8.0-57-generic (recovery mode)' --class ubuntu $menuentry_id_option 'gnulinux-6.8.0-57-generic-recovery-1234' {
		linux	/boot/vmlinuz-6.8.0-57-generic root=UUID=1234 ro recovery nomodeset
	}
	menuentry 'Ubuntu, with Linux 6.8.0-57-generic' --class ubuntu $menuentry_id_option 'gnulinux-6.8.0-57-generic-advanced-1234' {
		linux	/boot/vmlinuz-6.8.0-57-generic root=UUID=1234 ro
	}
}
`

// TestBootKernelScript runs lab-boot-kernel with this host's sh and awk
// on an Ubuntu-shaped grub.cfg (update-grub a recorder): GRUB_DEFAULT
// names the pinned kernel's entry under its submenu, not its recovery
// entry; a kernel not installed or without an entry fails, naming it.
func TestBootKernelScript(t *testing.T) {
	dir := t.TempDir()
	bin, boot, grubd := filepath.Join(dir, "bin"), filepath.Join(dir, "boot"), filepath.Join(dir, "grub.d")
	for _, d := range []string{bin, boot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "update-grub"), "#!/bin/sh\necho run >> \"$LAB_BOOT/update-grub.calls\"\n", 0o755)
	write(filepath.Join(boot, "grub.cfg"), ubuntuGrubCfg, 0o644)
	write(filepath.Join(boot, "vmlinuz-6.8.0-57-generic"), "", 0o644)
	write(filepath.Join(boot, "vmlinuz-6.8.0-58-generic"), "", 0o644)
	script := filepath.Join(dir, "lab-boot-kernel")
	write(script, bootKernel, 0o755)
	run := func(rel string) (string, error) {
		cmd := exec.Command("sh", script, rel)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "LAB_BOOT=" + boot, "LAB_GRUB_CFG=" + filepath.Join(boot, "grub.cfg"), "LAB_GRUB_D=" + grubd}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("6.8.0-57-generic"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(grubd, "99-lab-kernel.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "GRUB_DEFAULT=\"Advanced options for Ubuntu>Ubuntu, with Linux 6.8.0-57-generic\"\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if calls, _ := os.ReadFile(filepath.Join(boot, "update-grub.calls")); strings.Count(string(calls), "run") != 2 {
		t.Errorf("update-grub ran %q, want twice (menu, then default)", calls)
	}
	if out, err := run("6.8.0-58-generic"); err == nil || !strings.Contains(out, "no GRUB entry for 6.8.0-58-generic") {
		t.Errorf("kernel without an entry: %v %s", err, out)
	}
	if out, err := run("6.8.0-59-generic"); err == nil || !strings.Contains(out, "vmlinuz-6.8.0-59-generic is not installed") {
		t.Errorf("kernel not installed: %v %s", err, out)
	}
}
