package limaprov

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"lab/harness/execx"
	"lab/harness/locate"
)

// User is the unprivileged user lab runs limactl as (limactl refuses root).
// lab creates it on first use: a system user and group with its home in
// Home and no login shell.
const User = "lab-lima"

// Home is the lima user's home; LIMA_HOME is Home/h (short, as Lima's
// UNIX socket paths must stay under 104 bytes), VM disks are in Home/images,
// templates in Home/templates, the installed tools in Home/tool.
const Home = "/var/lib/lab/lima"

// ToolEnv, when set, names the directory holding bin/limactl and
// share/lima/ (default: bin/lima of the checkout, built by `make lima`).
const ToolEnv = "LAB_LIMA_DIR"

// qemuWrapper replaces the accelerator Lima v1.2.1 asks for: it picks KVM
// whenever the host is x86_64 Linux, but /dev/kvm here cannot run guests
// (a PVM flavour), so the VM runs under TCG.
const qemuWrapper = `#!/bin/sh
# lab: QEMU for Lima without usable KVM: select TCG (see harness/limaprov).
for a do
	shift
	case $a in
	*accel=kvm*) a=$(printf '%s' "$a" | sed 's/accel=kvm/accel=tcg/') ;;
	esac
	set -- "$@" "$a"
done
exec /usr/bin/qemu-system-x86_64 "$@"
`

// tools is an installed Lima: limactl, its share/lima and the QEMU wrapper,
// copied where the lima user can read them.
type tools struct {
	dir     string // Home/tool/HASH12
	uid     int
	gid     int
	limaEnv []string
}

func (t *tools) limactl() string  { return filepath.Join(t.dir, "bin", "limactl") }
func (t *tools) limaHome() string { return filepath.Join(Home, "h") }

// guestAgent is the guest agent Lima would copy into the VM; the lab bakes
// it into the VM disk instead.
func (t *tools) guestAgent() string {
	return filepath.Join(t.dir, "share", "lima", "lima-guestagent.Linux-x86_64")
}

// sourceDir finds the built Lima (bin/limactl with share/lima beside it).
func sourceDir() (string, error) {
	d, err := locate.Path(ToolEnv, "bin/lima", "lima")
	if err != nil {
		return "", err
	}
	for _, f := range []string{"bin/limactl", "share/lima/lima-guestagent.Linux-x86_64"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			return "", fmt.Errorf("%s: %s missing; run `make lima`", d, f)
		}
	}
	return d, nil
}

// install creates the lima user when missing and copies the built Lima and
// the QEMU wrapper under Home/tool/HASH (cached by the binaries' hash).
func install(ctx context.Context) (*tools, error) {
	src, err := sourceDir()
	if err != nil {
		return nil, err
	}
	uid, gid, err := ensureUser(ctx)
	if err != nil {
		return nil, err
	}
	files := []string{"bin/limactl", "share/lima/lima-guestagent.Linux-x86_64"}
	h := sha256.New()
	for _, f := range files {
		st, err := os.Stat(filepath.Join(src, f))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	io.WriteString(h, qemuWrapper)
	t := &tools{dir: filepath.Join(Home, "tool", hex.EncodeToString(h.Sum(nil))[:12]), uid: uid, gid: gid}
	t.limaEnv = []string{
		"PATH=" + filepath.Join(t.dir, "bin") + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=" + Home, "USER=" + User, "LOGNAME=" + User, "LIMA_HOME=" + t.limaHome(),
		"QEMU_SYSTEM_X86_64=" + filepath.Join(t.dir, "bin", "qemu-system-x86_64"),
		"LANG=C.UTF-8",
	}
	if _, err := os.Stat(filepath.Join(t.dir, ".complete")); err == nil {
		return t, nil
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(src, f), filepath.Join(t.dir, f), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(t.dir, "bin", "qemu-system-x86_64"), []byte(qemuWrapper), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(t.dir, ".complete"), nil, 0o644); err != nil {
		return nil, err
	}
	return t, nil
}

// ensureUser creates User (system user and group, home Home) when missing
// and makes Home and LIMA_HOME its own.
func ensureUser(ctx context.Context) (uid, gid int, err error) {
	if _, lerr := user.Lookup(User); lerr != nil {
		argv := []string{"useradd", "--system", "--user-group", "--home-dir", Home, "--shell", "/usr/sbin/nologin",
			"--comment", "lab runs limactl as this user (limactl refuses root)", User}
		if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return 0, 0, fmt.Errorf("create the lima user: %w", err)
		}
	}
	u, err := user.Lookup(User)
	if err != nil {
		return 0, 0, err
	}
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(u.Gid, &gid)
	for _, d := range []string{Home, filepath.Join(Home, "h"), filepath.Join(Home, "templates")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, 0, err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// asUser is the argv prefix that runs a program as the lima user.
func asUser() []string {
	return []string{"setpriv", "--reuid=" + User, "--regid=" + User, "--init-groups", "--"}
}

// limactl runs limactl as the lima user.
func (t *tools) run(ctx context.Context, args ...string) (execx.Result, error) {
	argv := append(append(asUser(), t.limactl(), "--tty=false"), args...)
	return execx.Host{}.Run(ctx, execx.Cmd{Argv: argv, Env: t.limaEnv})
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// instanceNames lists Lima's instances (directories of LIMA_HOME) whose
// names start with prefix.
func instanceNames(prefix string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(Home, "h"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) && !strings.HasPrefix(e.Name(), "_") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// CleanDead removes the VMs (and kept cells' records) whose names dead
// says belong to a finished or killed run, for `lab clean`. Without a
// built limactl it kills the instance's processes and removes its
// directory itself.
func CleanDead(ctx context.Context, dead func(name string) bool) ([]string, error) {
	if _, err := os.Stat(Home); err != nil {
		return nil, nil
	}
	names, err := instanceNames("lab-")
	if err != nil {
		return nil, err
	}
	t, terr := install(ctx)
	if terr != nil {
		t = &tools{} // removeInstance falls back to pid files and rm
	}
	var removed []string
	var errs []error
	for _, n := range names {
		if !dead(n) {
			continue
		}
		if err := removeInstance(ctx, t, n); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "lima VM "+n)
		}
	}
	cells, _ := filepath.Glob(filepath.Join(Home, "cells", "lab-*"))
	for _, c := range cells {
		if dead(filepath.Base(c)) {
			if err := os.RemoveAll(c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}
