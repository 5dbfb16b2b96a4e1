// Package firewalld runs the real firewalld daemon inside a node, with the
// node's own system bus: dbus-daemon and firewalld are started through the
// node primitives (node.Start), so they run with the node's userspace, in
// its network, mount and PID namespaces. On a netns node /run,
// /etc/firewalld, /var/lib/firewalld and /var/log are private to the node,
// so nothing of the host's D-Bus, firewalld configuration or rules is ever
// touched; on a container or VM node the whole filesystem is the node's.
//
// The bus has no service directory, so nothing is ever activated (no
// polkitd: firewalld falls back to allowing uid 0).
package firewalld

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"lab/harness/execx"
	"lab/harness/node"
)

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

// busConfPath is where the node's private bus configuration is written.
const busConfPath = "/run/lab/dbus-system.conf"

// BusSocket is the node's system bus socket (the default path).
const BusSocket = "/run/dbus/system_bus_socket"

// busConf is the private bus configuration.
const busConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=` + BusSocket + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`

// Daemon is one running firewalld with its bus, in one node. Its methods
// are safe for concurrent use.
type Daemon struct {
	node    node.Node
	version string
	log     *logBuf

	mu      sync.Mutex
	bus, fw node.Stream
	stopped bool
	stopErr error
}

// logBuf collects the daemons' output for evidence.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFirewalld starts firewalld in the foreground logging to the
// console, with whichever log option the node's firewalld has. The
// option is read from the program's own argparse declarations (firewalld
// is a Python script: 1.x declares '--log-target', 0.9 only '--log-file'),
// which costs no Python start; `firewalld --help` is the fallback when the
// program is not readable as such.
const startFirewalld = `fw=$(command -v firewalld)
if grep -qs -e "'--log-target'" "$fw"; then exec firewalld --nofork --nopid --log-target console; fi
if ! grep -qs -e "'--log-file'" "$fw" && firewalld --help 2>&1 | grep -q -e --log-target; then exec firewalld --nofork --nopid --log-target console; fi
exec firewalld --nofork --nopid --log-file /dev/stderr`

// Start runs dbus-daemon and firewalld in the node and returns once
// firewalld reports it is running. On failure it stops whatever it started
// and returns a nil Daemon (Stop on a nil Daemon is a no-op, so cleanup may
// be registered before the check).
func Start(ctx context.Context, n node.Node) (*Daemon, error) {
	d := &Daemon{node: n, log: &logBuf{}}
	if err := d.start(ctx); err != nil {
		_ = d.Stop(context.Background())
		return nil, fmt.Errorf("firewalld in %s: %w", n.Name(), err)
	}
	return d, nil
}

// write writes data to path inside the node.
func write(ctx context.Context, n node.Node, path, data string) error {
	_, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", `mkdir -p "$(dirname "$0")" && cat > "$0"`, path}, Stdin: []byte(data)})
	return err
}

func (d *Daemon) start(ctx context.Context) error {
	n := d.node
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "command -v firewalld && command -v firewall-cmd && command -v dbus-daemon && command -v dbus-send"}}); err != nil {
		return fmt.Errorf("firewalld, firewall-cmd, dbus-daemon and dbus-send must be installed in the node (apt-get install firewalld): %w", err)
	}
	if err := write(ctx, n, busConfPath, busConf); err != nil {
		return err
	}
	if err := write(ctx, n, "/etc/firewalld/firewalld.conf", Conf); err != nil {
		return err
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"mkdir", "-p", "/run/dbus"}}); err != nil {
		return err
	}
	bus, err := n.Start(ctx, execx.Cmd{Argv: []string{"dbus-daemon", "--config-file=" + busConfPath, "--nofork", "--nopidfile", "--nosyslog"}}, d.log)
	if err != nil {
		return err
	}
	d.set(&d.bus, bus)
	go drain(bus.Stdout(), d.log)
	if err := d.waitFor(ctx, bus, func() bool {
		_, err := n.Run(ctx, execx.Cmd{Argv: []string{"test", "-S", BusSocket}})
		return err == nil
	}); err != nil {
		return fmt.Errorf("dbus-daemon: %w", err)
	}
	// firewalld before 1.0 (Debian bullseye's 0.9.3) has no --log-target:
	// it logs to --log-file, here its standard error.
	fw, err := n.Start(ctx, execx.Cmd{Argv: []string{"sh", "-c", startFirewalld}}, d.log)
	if err != nil {
		return err
	}
	d.set(&d.fw, fw)
	go drain(fw.Stdout(), d.log)
	if err := d.waitFor(ctx, fw, func() bool {
		out, err := d.busGet(ctx, "state")
		return err == nil && out == "RUNNING"
	}); err != nil {
		return fmt.Errorf("firewalld: %w", err)
	}
	// The running daemon's own version property: what `firewall-cmd
	// --version` prints (both read firewall.config.VERSION), without
	// starting a Python interpreter.
	out, err := d.busGet(ctx, "version")
	if err != nil {
		return fmt.Errorf("firewalld version (D-Bus property): %w", err)
	}
	d.version = out
	return nil
}

func drain(r io.Reader, w io.Writer) { _, _ = io.Copy(w, r) }

func (d *Daemon) set(slot *node.Stream, s node.Stream) {
	d.mu.Lock()
	defer d.mu.Unlock()
	*slot = s
}

// busGet reads one property of firewalld's main D-Bus object (what
// `firewall-cmd --state` reads), with dbus-send, which starts in
// milliseconds where firewall-cmd needs a Python interpreter.
func (d *Daemon) busGet(ctx context.Context, prop string) (string, error) {
	out, err := execx.Output(ctx, d.node, "dbus-send",
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

// waitFor polls ready until it holds, s exits or ctx ends: every 10 ms at
// first, backing off to every 80 ms (each poll is a command in the node,
// whose CPU the starting daemon needs on a loaded machine).
func (d *Daemon) waitFor(ctx context.Context, s node.Stream, ready func() bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	exited := make(chan error, 1)
	go func() { exited <- s.Wait() }()
	every := 10 * time.Millisecond
	for {
		if ready() {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited early (%v): %s", err, tail(d.log.String(), 2000))
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w: %s", ctx.Err(), tail(d.log.String(), 2000))
		case <-time.After(every):
		}
		every = min(2*every, 80*time.Millisecond)
	}
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// Cmd runs firewall-cmd with args in the node (on its bus) and returns its
// stdout with surrounding space trimmed. firewall-cmd's non-zero exits (e.g.
// 1 for a --query that answers no) are returned as *execx.Error with the
// output.
func (d *Daemon) Cmd(ctx context.Context, args ...string) (string, error) {
	d.mu.Lock()
	stopped := d.stopped
	d.mu.Unlock()
	if stopped {
		return "", errors.New("firewalld: firewall-cmd on a stopped daemon")
	}
	out, err := execx.Output(ctx, d.node, append([]string{"firewall-cmd"}, args...)...)
	return strings.TrimSpace(out), err
}

// Reload does what `firewall-cmd --reload` does: firewall-cmd calls the
// reload method of firewalld's main D-Bus object (firewall/client.py),
// which returns once firewalld has re-applied its whole runtime
// configuration (server/firewalld.py: fw.reload(), config.reload()), and
// prints "success". dbus-send makes the same call without starting a
// Python interpreter (about 0.2 s here). It returns dbus-send's reply.
func (d *Daemon) Reload(ctx context.Context) (string, error) {
	d.mu.Lock()
	stopped := d.stopped
	d.mu.Unlock()
	if stopped {
		return "", errors.New("firewalld: reload of a stopped daemon")
	}
	out, err := execx.Output(ctx, d.node, "dbus-send",
		"--system", "--print-reply", "--reply-timeout=60000", "--dest=org.fedoraproject.FirewallD1",
		"/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.reload")
	return strings.TrimSpace(out), err
}

// Version returns the running firewalld's version as its D-Bus version
// property says (what `firewall-cmd --version` prints), e.g. "1.3.3".
func (d *Daemon) Version() string { return d.version }

// Log returns what dbus-daemon and firewalld printed, for evidence.
func (d *Daemon) Log() string { return d.log.String() }

// Stop stops firewalld with SIGTERM inside the node (so it removes its own
// rules, CleanupOnExit), then the bus; whatever does not end in time is
// killed. It is idempotent, returns the first call's result, and a nil
// Daemon is a no-op.
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
	var errs []error
	if d.fw != nil {
		// The node's own PID namespace: this reaches only its firewalld.
		_, _ = d.node.Run(ctx, execx.Cmd{Argv: []string{"pkill", "-TERM", "-x", "firewalld"}})
		errs = append(errs, stopWithin(d.fw, 10*time.Second))
	}
	if d.bus != nil {
		_, _ = d.node.Run(ctx, execx.Cmd{Argv: []string{"pkill", "-TERM", "-x", "dbus-daemon"}})
		errs = append(errs, stopWithin(d.bus, 2*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		d.stopErr = fmt.Errorf("stop firewalld in %s: %w", d.node.Name(), err)
	}
	return d.stopErr
}

// stopWithin waits for s to end for up to grace, then kills it.
func stopWithin(s node.Stream, grace time.Duration) error {
	done := make(chan struct{})
	go func() { _ = s.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		return s.Kill()
	}
}
