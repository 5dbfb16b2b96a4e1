package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"lab/harness/execx"
)

// Chroot is the real Builder: debootstrap on the host, everything else
// inside the rootfs with chroot(8) under unshare(1) in new mount and PID
// namespaces (/proc mounted there only, so nothing stays mounted and no
// daemon a package starts outlives its command). Setup commands and
// measurements also get a new, empty network namespace.
type Chroot struct {
	// Runner runs the commands (execx.Host{}).
	Runner execx.Runner
}

// Check says what the real builder needs and is missing: root and the
// programs it runs. It creates nothing.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("building node images needs root (debootstrap and chroot); run it as root")
	}
	return execx.LookPath(map[string]string{
		"debootstrap": "debootstrap", "unshare": "util-linux", "chroot": "coreutils", "tar": "tar",
	})
}

// env is the environment of every build command.
func env() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C", "HOME=/root", "DEBIAN_FRONTEND=noninteractive", "DEBCONF_NONINTERACTIVE_SEEN=true",
	}
}

// Debootstrap runs debootstrap --variant=minbase with the recipe's packages,
// keeping downloaded packages in DIR/debs until it succeeds (a rerun after
// an interruption downloads nothing twice).
func (c Chroot) Debootstrap(ctx context.Context, j *Job) error {
	cache := filepath.Join(j.Dir, "debs")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	// In its own mount and PID namespaces: the /proc and /sys debootstrap
	// mounts in the target go away with it even when it is killed.
	argv := []string{"unshare", "--mount", "--pid", "--fork", "--kill-child",
		"debootstrap", "--variant=minbase", "--cache-dir=" + cache}
	if len(j.Recipe.Packages) > 0 {
		argv = append(argv, "--include="+strings.Join(sortedSet(j.Recipe.Packages), ","))
	}
	argv = append(argv, j.Recipe.Suite, j.Rootfs)
	if _, err := c.Runner.Run(ctx, execx.Cmd{Argv: argv, Env: env()}); err != nil {
		return fmt.Errorf("%w (full log: %s)", short(err), filepath.Join(j.Rootfs, "debootstrap", "debootstrap.log"))
	}
	return removeTree(j.Root, cache)
}

// Apt installs the apt packages with apt-get in the chroot; a policy-rc.d
// keeps package scripts from starting services.
func (c Chroot) Apt(ctx context.Context, j *Job) error {
	if len(j.Recipe.AptPackages) == 0 {
		return nil
	}
	script := `trap 'rm -f /usr/sbin/policy-rc.d' EXIT
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
dpkg --configure -a && apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"`
	argv := append([]string{"/bin/sh", "-c", script, "sh"}, sortedSet(j.Recipe.AptPackages)...)
	_, err := c.run(ctx, j, false, nil, argv...)
	return short(err)
}

// Setup writes the recipe's files (through the chroot, so a symlink in the
// rootfs resolves inside it) and runs its commands, without network.
func (c Chroot) Setup(ctx context.Context, j *Job) error {
	for _, f := range j.Recipe.Normalised().Setup.Files {
		script := `mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"`
		if _, err := c.run(ctx, j, true, []byte(f.Content), "/bin/sh", "-c", script, "sh", f.Path, f.Mode); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, short(err))
		}
	}
	for _, cmd := range j.Recipe.Setup.Run {
		if _, err := c.run(ctx, j, true, nil, "/bin/sh", "-c", cmd); err != nil {
			return short(err)
		}
	}
	return nil
}

// Export writes DIR/rootfs.tar (numeric owners, one file system, sorted
// names) and fingerprints it: its sha256 is also the layer digest `docker
// import` gives it. When zstd is installed it also writes rootfs.tar.zst (for
// LXD; Docker 20.10's import cannot read zstd).
func (c Chroot) Export(ctx context.Context, j *Job) (Artifact, error) {
	a := Artifact{File: "rootfs.tar"}
	final := filepath.Join(j.Dir, a.File)
	tmp := final + ".tmp"
	argv := []string{"tar", "--create", "--numeric-owner", "--one-file-system", "--sort=name", "--file", tmp, "-C", j.Rootfs, "."}
	if _, err := c.Runner.Run(ctx, execx.Cmd{Argv: argv, Env: env()}); err != nil {
		os.Remove(tmp)
		return a, short(err)
	}
	sum, n, err := sha256File(tmp)
	if err != nil {
		return a, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return a, err
	}
	a.Fingerprint, a.Bytes = "sha256:"+sum, n
	zst := final + ".zst"
	os.Remove(zst)
	if _, err := exec.LookPath("zstd"); err == nil {
		argv := []string{"zstd", "-q", "-f", "-T0", final, "-o", zst + ".tmp"}
		if _, err := c.Runner.Run(ctx, execx.Cmd{Argv: argv, Env: env()}); err != nil {
			os.Remove(zst + ".tmp")
			return a, short(err)
		}
		if err := os.Rename(zst+".tmp", zst); err != nil {
			return a, err
		}
		st, err := os.Stat(zst)
		if err != nil {
			return a, err
		}
		a.Zstd, a.ZstdBytes = filepath.Base(zst), st.Size()
	}
	a.RootfsBytes, err = treeBytes(j.Rootfs)
	return a, err
}

// run runs argv inside the rootfs: new mount and PID namespaces with /proc
// mounted there, and a new network namespace when isolated.
func (c Chroot) run(ctx context.Context, j *Job, isolated bool, stdin []byte, argv ...string) (execx.Result, error) {
	full := []string{"unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc=" + filepath.Join(j.Rootfs, "proc")}
	if isolated {
		full = append(full, "--net")
	}
	full = append(full, "chroot", j.Rootfs)
	return c.Runner.Run(ctx, execx.Cmd{Argv: append(full, argv...), Env: env(), Stdin: stdin})
}

// short keeps the last lines of a failed command's output, so an error
// stays readable; the command itself is kept whole.
func short(err error) error {
	var ee *execx.Error
	if !errors.As(err, &ee) {
		return err
	}
	cp := *ee
	cp.Stdout, cp.Stderr = lastLines(ee.Stdout, 15), lastLines(ee.Stderr, 15)
	return &cp
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	return "...\n" + strings.Join(lines[len(lines)-n:], "\n")
}

func sha256File(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// treeBytes sums the sizes of the regular files under dir (symlinks are
// not followed).
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
