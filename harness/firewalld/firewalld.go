// Package firewalld runs the real firewalld daemon (Debian's 1.3.x, as RHEL 9
// ships) inside a network namespace, with a private system bus and a private
// mount namespace, so it never touches the host's D-Bus, /etc/firewalld,
// /run or /var/log, nor the host's rules.
//
// Layout of one instance (stateDir is the caller's per-cell directory):
//
//	stateDir/run                  -> /run inside (dbus socket, /run/firewalld)
//	stateDir/run/lab/etc/firewalld -> /etc/firewalld inside (firewalld.conf, permanent config)
//	stateDir/log                  -> /var/log inside
//	stateDir/dbus.conf, dbus.log, firewalld.log
//
// dbus-daemon is started with `unshare --mount --propagation private`, the
// bind mounts are made in its mount namespace, and firewalld and every
// firewall-cmd enter that namespace with nsenter. The bus has no service
// directory, so nothing is ever activated (no polkitd: firewalld falls back
// to allowing uid 0). The mount namespace, and every mount in it, vanishes
// with its last process, so Stop has nothing to unmount on the host.
package firewalld

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lab/harness/execx"
	"lab/harness/netns"
)

// busAddr is the system bus address as seen inside the private mount namespace.
const busAddr = "unix:path=/run/dbus/system_bus_socket"

// confDir is the system config directory as seen inside the private mount namespace.
const confDir = "/run/lab/etc/firewalld"

// Conf is the firewalld.conf every instance gets: nftables backend, default
// zone public, the Debian/RHEL 9 defaults otherwise.
const Conf = `DefaultZone=public
CleanupOnExit=yes
CleanupModulesOnExit=no
Lockdown=no
IPv6_rpfilter=yes
IndividualCalls=no
LogDenied=off
FirewallBackend=nftables
FlushAllOnReload=yes
RFC3964_IPv4=yes
`

// busConf is the private bus configuration; %s is the socket path on the host.
const busConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`

// programs maps every program this package needs to its Debian package.
var programs = map[string]string{
	"firewalld": "firewalld", "firewall-cmd": "firewalld", "dbus-daemon": "dbus-daemon",
	"dbus-send": "dbus-bin", "unshare": "util-linux", "nsenter": "util-linux",
	"mount": "mount", "umount": "mount",
}

// Available returns nil when firewalld, firewall-cmd, dbus-daemon and the
// tools used to isolate them are installed, or a one-line error naming the
// missing programs and the fix.
func Available() error { return execx.LookPath(programs) }

// Daemon is one running firewalld with its private bus and mount namespace.
// Its methods are safe for concurrent use.
type Daemon struct {
	nsPath   string
	stateDir string
	version  string
	mnt      nsID // the private mount namespace
	// mntRef holds the private mount namespace open until Stop: while it
	// is held the namespace cannot be freed, so its inode cannot be reused
	// by another instance's namespace that Stop's sweep would then hit.
	mntRef  *os.File
	mntPath string
	run     netns.Runner

	mu      sync.Mutex
	bus, fw *execx.Process
	stopped bool
	stopErr error
}

// Start runs firewalld in the network namespace at nsPath, keeping all its
// state under stateDir, and returns once firewalld reports it is running.
// On failure it stops whatever it started and returns a nil Daemon (Stop on
// a nil Daemon is a no-op, so cleanup may be registered before the check).
func Start(ctx context.Context, nsPath, stateDir string) (*Daemon, error) {
	if err := Available(); err != nil {
		return nil, fmt.Errorf("firewalld: %w", err)
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("firewalld: state dir: %w", err)
	}
	d := &Daemon{nsPath: nsPath, stateDir: dir}
	if err := d.start(ctx); err != nil {
		_ = d.Stop(context.Background())
		return nil, fmt.Errorf("firewalld in %s: %w", nsPath, err)
	}
	return d, nil
}

func (d *Daemon) start(ctx context.Context) error {
	sock := filepath.Join(d.stateDir, "run", "dbus", "system_bus_socket")
	if len(sock) > 107 {
		return fmt.Errorf("bus socket path %s is too long for a unix socket; use a shorter state dir", sock)
	}
	etc := filepath.Join(d.stateDir, "run", "lab", "etc", "firewalld")
	for _, p := range []string{filepath.Dir(sock), filepath.Join(d.stateDir, "log"), etc} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	busConfPath := filepath.Join(d.stateDir, "dbus.conf")
	if err := os.WriteFile(busConfPath, []byte(fmt.Sprintf(busConf, sock)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "firewalld.conf"), []byte(Conf), 0o644); err != nil {
		return err
	}
	env := netns.MergeEnv(os.Environ(), []string{"DBUS_SYSTEM_BUS_ADDRESS=" + busAddr})
	d.run = netns.Runner{Path: d.nsPath, Env: []string{"DBUS_SYSTEM_BUS_ADDRESS=" + busAddr}}

	busLog := filepath.Join(d.stateDir, "dbus.log")
	bus, err := StartProcess(d.nsPath, []string{lookPath("unshare"), "--mount", "--propagation", "private",
		lookPath("dbus-daemon"), "--config-file=" + busConfPath, "--nofork", "--nopidfile", "--nosyslog"}, env, busLog)
	if err != nil {
		return err
	}
	d.setProc(&d.bus, bus)
	if err := waitFor(ctx, bus, busLog, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		return fmt.Errorf("dbus-daemon: %w", err)
	}
	pid := strconv.Itoa(bus.Pid())
	if d.mnt, err = mountNS(pid); err != nil {
		return fmt.Errorf("dbus-daemon mount namespace: %w", err)
	}
	if self, err := mountNS("self"); err != nil || self == d.mnt {
		return fmt.Errorf("dbus-daemon is not in a private mount namespace (%v)", err)
	}
	ref, err := os.Open("/proc/" + pid + "/ns/mnt")
	if err != nil {
		return fmt.Errorf("dbus-daemon mount namespace: %w", err)
	}
	d.mntRef = ref
	if st, err := ref.Stat(); err != nil || st.Sys().(*syscall.Stat_t).Ino != d.mnt.ino {
		return fmt.Errorf("dbus-daemon (pid %s) exited while starting: %s", pid, strings.TrimSpace(tail(busLog, 2000)))
	}
	d.mntPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ref.Fd())
	if err := d.mounts(ctx, etc); err != nil {
		return err
	}

	fwLog := filepath.Join(d.stateDir, "firewalld.log")
	fw, err := StartProcess(d.nsPath, []string{lookPath("nsenter"), "--mount=" + d.mntPath, lookPath("firewalld"),
		"--nofork", "--nopid", "--log-target", "console", "--system-config", confDir}, env, fwLog)
	if err != nil {
		return err
	}
	d.setProc(&d.fw, fw)
	state := func() bool {
		out, err := d.busGet(ctx, "state")
		return err == nil && out == "RUNNING"
	}
	if err := waitFor(ctx, fw, fwLog, state); err != nil {
		return fmt.Errorf("firewalld: %w", err)
	}
	if d.version, err = d.busGet(ctx, "version"); err != nil {
		return fmt.Errorf("firewalld version: %w", err)
	}
	return nil
}

// mounts makes the bind mounts inside the private mount namespace. It first
// lazily unmounts the copies of nsfs mounts (/run/netns/*), so this instance
// does not keep other network namespaces alive; that is best effort.
func (d *Daemon) mounts(ctx context.Context, etc string) error {
	h := execx.Host{}
	in := []string{lookPath("nsenter"), "--mount=" + d.mntPath}
	if nsfs := nsfsMounts(d.mntPath); len(nsfs) > 0 {
		_, _ = h.Run(ctx, execx.Cmd{Argv: append(append(in, "umount", "-n", "-l"), nsfs...)})
	}
	binds := [][2]string{{filepath.Join(d.stateDir, "log"), "/var/log"}}
	if fi, err := os.Stat("/etc/firewalld"); err == nil && fi.IsDir() {
		binds = append(binds, [2]string{etc, "/etc/firewalld"})
	}
	// /run last: the sources above may live under /run on the host.
	binds = append(binds, [2]string{filepath.Join(d.stateDir, "run"), "/run"})
	for _, b := range binds {
		if _, err := h.Run(ctx, execx.Cmd{Argv: append(in, "mount", "-n", "--bind", b[0], b[1])}); err != nil {
			return fmt.Errorf("private mounts: %w", err)
		}
	}
	return nil
}

// nsfsMounts lists the nsfs mount points in the mount table of a namespace
// file's owner (/proc/PID/ns/mnt -> /proc/PID/mountinfo).
func nsfsMounts(mntPath string) []string {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(mntPath)), "mountinfo"))
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if ok && len(f) >= 5 && strings.HasPrefix(post, "nsfs ") {
			out = append(out, unescape(f[4]))
		}
	}
	return out
}

// unescape decodes the octal escapes (\040) of mountinfo paths.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// busGet reads one property of firewalld's main D-Bus object (what
// `firewall-cmd --state` and `--version` read), with dbus-send, which starts
// in milliseconds where firewall-cmd needs a Python interpreter.
func (d *Daemon) busGet(ctx context.Context, prop string) (string, error) {
	out, err := execx.Output(ctx, d.run, lookPath("nsenter"), "--mount="+d.mntPath, lookPath("dbus-send"),
		"--system", "--print-reply", "--reply-timeout=2000", "--dest=org.fedoraproject.FirewallD1",
		"/org/fedoraproject/FirewallD1", "org.freedesktop.DBus.Properties.Get",
		"string:org.fedoraproject.FirewallD1", "string:"+prop)
	if err != nil {
		return "", err
	}
	// method return ...\n   variant       string "RUNNING"
	if i, j := strings.Index(out, `"`), strings.LastIndex(out, `"`); i >= 0 && j > i {
		return out[i+1 : j], nil
	}
	return "", fmt.Errorf("unexpected dbus-send reply %q", out)
}

// waitFor polls ready every 10ms until it holds, p exits or ctx ends.
func waitFor(ctx context.Context, p *execx.Process, logPath string, ready func() bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	for {
		if ready() {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("exited early (%v): %s", p.Err(), strings.TrimSpace(tail(logPath, 2000)))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w: %s", ctx.Err(), strings.TrimSpace(tail(logPath, 2000)))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lookPath returns the absolute path of prog, so the namespaced commands do
// not depend on the caller's PATH (firewalld lives in /usr/sbin).
func lookPath(prog string) string {
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	return prog
}

func (d *Daemon) setProc(slot **execx.Process, p *execx.Process) {
	d.mu.Lock()
	defer d.mu.Unlock()
	*slot = p
}

// Cmd runs firewall-cmd with args against this instance (inside its network
// and mount namespaces, on its private bus) and returns its stdout with
// surrounding space trimmed. firewall-cmd's non-zero exits (e.g. 1 for a
// --query that answers no) are returned as *execx.Error with the output.
func (d *Daemon) Cmd(ctx context.Context, args ...string) (string, error) {
	d.mu.Lock()
	stopped := d.stopped
	d.mu.Unlock()
	if stopped {
		return "", errors.New("firewalld: firewall-cmd on a stopped daemon")
	}
	argv := append([]string{lookPath("nsenter"), "--mount=" + d.mntPath, lookPath("firewall-cmd")}, args...)
	out, err := execx.Output(ctx, d.run, argv...)
	return strings.TrimSpace(out), err
}

// Version returns the running firewalld's version, e.g. "1.3.3".
func (d *Daemon) Version() string { return d.version }

// StateDir returns the instance's state directory; firewalld.log and
// dbus.log there are evidence.
func (d *Daemon) StateDir() string { return d.stateDir }

// Stop stops firewalld (SIGTERM, so it removes its own rules) and then its
// bus, kills anything left in the private mount namespace (firewall-cmd
// still running, or anything the bus started) and waits for it all to exit.
// It is idempotent, returns the first call's result, and a nil Daemon is a
// no-op.
func (d *Daemon) Stop(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return d.stopErr
	}
	d.stopped = true
	errs := []error{d.fw.Stop(ctx, 10*time.Second), d.bus.Stop(ctx, 2*time.Second)}
	if d.mnt != (nsID{}) && d.mntRef != nil {
		errs = append(errs, killMembers(d.mnt))
	}
	if d.mntRef != nil {
		d.mntRef.Close()
	}
	if err := errors.Join(errs...); err != nil {
		d.stopErr = fmt.Errorf("stop firewalld in %s: %w", d.nsPath, err)
	}
	return d.stopErr
}
