package limaprov

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"lab/harness/execx"
	"lab/harness/image"
)

// vmDisk is what Lima boots: an ext4 root filesystem (no partition table,
// no bootloader) as qcow2, and the image's own kernel and initrd, booted
// directly (Lima's kernel/initrd image fields with legacyBIOS).
type vmDisk struct {
	Dir, Disk, Kernel, Initrd string
	// KernelRelease is the release of the image's kernel (uname -r).
	KernelRelease string
}

// diskFormat is part of a VM disk's cache key: bump it when makeDisk
// writes something else into the disk.
const diskFormat = 2

// makeDisk builds (or reuses) the VM disk of a built VM image under
// Home/images/IMAGEDIR-AGENTHASH: mkfs.ext4 -d populates a filesystem from
// the image's rootfs with no mount, debugfs writes Lima's guest agent into
// it (its service is enabled in the image), qemu-img converts it to qcow2.
func makeDisk(ctx context.Context, img *image.Image, agent string) (*vmDisk, error) {
	ah, err := fileHash(agent)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(Home, "images", fmt.Sprintf("%s-%s-d%d", filepath.Base(img.Dir), ah[:8], diskFormat))
	d := &vmDisk{Dir: dir, Disk: filepath.Join(dir, "disk.qcow2"), Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	rootfs := filepath.Join(img.Dir, image.RootfsDir)
	kernels, _ := filepath.Glob(filepath.Join(rootfs, "boot", "vmlinuz-*"))
	if len(kernels) == 0 {
		return nil, fmt.Errorf("image %s has no kernel in /boot (is it a VM image, %s?)", img.Name, image.VMSuffix)
	}
	sort.Strings(kernels)
	kfile := kernels[len(kernels)-1]
	d.KernelRelease = strings.TrimPrefix(filepath.Base(kfile), "vmlinuz-")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return d, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(kfile, d.Kernel, 0o644); err != nil {
		return nil, err
	}
	if err := copyFile(filepath.Join(rootfs, "boot", "initrd.img-"+d.KernelRelease), d.Initrd, 0o644); err != nil {
		return nil, err
	}
	size, err := treeSize(rootfs)
	if err != nil {
		return nil, err
	}
	// Room for the cell's files, logs and pushed binaries.
	mb := size>>20 + 1024
	raw := filepath.Join(dir, "disk.raw")
	run := func(argv ...string) error {
		_, err := execx.Host{}.Run(ctx, execx.Cmd{Argv: argv})
		return err
	}
	defer os.Remove(raw)
	if err := run("mkfs.ext4", "-q", "-F", "-L", "labroot", "-d", rootfs, raw, fmt.Sprintf("%dM", mb)); err != nil {
		return nil, fmt.Errorf("VM disk of %s: %w", img.Name, err)
	}
	unit := filepath.Join(dir, "lima-guestagent.service")
	if err := os.WriteFile(unit, []byte(guestAgentUnit), 0o644); err != nil {
		return nil, err
	}
	const unitPath = "/etc/systemd/system/lima-guestagent.service"
	cmds := fmt.Sprintf("write %s %s\nsif %s mode 0100755\nsif %s uid 0\nsif %s gid 0\nrm %s\nwrite %s %s\nsif %s uid 0\nsif %s gid 0\n",
		agent, image.GuestAgentPath, image.GuestAgentPath, image.GuestAgentPath, image.GuestAgentPath,
		unitPath, unit, unitPath, unitPath, unitPath)
	if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: []string{"debugfs", "-w", "-f", "-", raw}, Stdin: []byte(cmds)}); err != nil {
		return nil, fmt.Errorf("VM disk of %s: write the guest agent: %w", img.Name, err)
	}
	if err := run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, d.Disk+".tmp"); err != nil {
		return nil, fmt.Errorf("VM disk of %s: %w", img.Name, err)
	}
	if err := os.Chmod(d.Disk+".tmp", 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(d.Disk+".tmp", d.Disk); err != nil {
		return nil, err
	}
	return d, os.WriteFile(filepath.Join(dir, ".complete"), []byte(d.KernelRelease+"\n"), 0o644)
}

// guestAgentUnit runs the guest agent as Lima's QEMU driver on a Linux
// host expects it (its boot script installs the same unit later): on its
// UNIX socket, which the host agent forwards over SSH. It replaces the
// image's unit, which names no transport of a particular host.
const guestAgentUnit = `[Unit]
Description=lima-guestagent (baked into the lab's VM disk)

[Service]
ExecStart=` + image.GuestAgentPath + ` daemon
Type=simple
Restart=on-failure
OOMPolicy=continue
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
`

func fileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// treeSize sums the sizes of the regular files under dir.
func treeSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}
