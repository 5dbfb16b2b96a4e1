package netnsprov

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/node"
)

// A netns node is a named network namespace on this host plus a holder
// process that owns the node's own mount, PID and UTS namespaces: PID 1 of
// the node's PID namespace is tini (reaping orphans, as in a container),
// whose child `sleep infinity` keeps the node up; the mount namespace has
// private tmpfs mounts on the directories node software keeps state in
// (/run, /tmp, /etc/firewalld, /var/log, /var/lib/firewalld). Everything else
// of the filesystem is the host's: netns nodes run the host's binaries. A
// command run on the node (nsenter into all four namespaces) cannot see or
// signal host processes or other nodes' processes, nor reach the host's
// D-Bus or systemd. Killing PID 1 ends every process of the node.
type nsNode struct {
	name  string
	netns string // bind-mount path of the node's network namespace
	pid   int    // host pid of the node's PID 1
}

// privateDirs get a fresh tmpfs in every node (when they exist on the host).
var privateDirs = []string{"/run", "/tmp", "/etc/firewalld", "/var/log", "/var/lib/firewalld"}

// holderScript sets the node's namespaces up and keeps the node alive; $0
// is the node's hostname, $1 its network namespace's name (so a leftover
// holder names its run in ps).
func holderScript() string {
	var b strings.Builder
	for _, d := range privateDirs {
		fmt.Fprintf(&b, "if [ -d %s ]; then mount -t tmpfs -o mode=755 lab-node %s || exit 1; fi; ", d, d)
	}
	b.WriteString("mkdir -p /run/lock /run/netns && hostname \"$0\" && touch \"/run/.lab-node-$1\" && exec sleep infinity")
	return b.String()
}

// bootNode starts the holder of a node in the network namespace at path
// and waits until its namespaces are ready.
func bootNode(ctx context.Context, name, path string) (*nsNode, error) {
	argv := []string{"nsenter", "--net=" + path, "--", "unshare", "--mount", "--uts", "--pid", "--fork",
		"--mount-proc", "--propagation", "private", "--", "tini", "-s", "--", "sh", "-c", holderScript(), name, filepath.Base(path)}
	p, err := execx.Start(execx.Cmd{Argv: argv}, "/dev/null", nil)
	if err != nil {
		return nil, fmt.Errorf("boot node %s: %w", name, err)
	}
	// nsenter execs unshare (same pid); unshare forks PID 1 of the node.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid := child(p.Pid()); pid > 0 {
			// The marker is made on the node's private /run, after the
			// mounts; its name is the node's, so no host file fakes it.
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/run/.lab-node-%s", pid, filepath.Base(path))); err == nil {
				return &nsNode{name: name, netns: path, pid: pid}, nil
			}
		}
		if p.Exited() {
			return nil, fmt.Errorf("boot node %s: %s exited: %v", name, execx.Quote(argv), p.Err())
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			_ = p.Stop(context.Background(), 0)
			return nil, fmt.Errorf("boot node %s: namespaces not ready (%v)", name, ctx.Err())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// child returns the first child of pid, or 0.
func child(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.Atoi(f[0])
	return v
}

// enter is the command prefix that runs a program in all of the node's
// namespaces.
func enter(pid int) []string {
	return []string{"nsenter", "-t", strconv.Itoa(pid), "-n", "-m", "-u", "-p", "--"}
}

func (n *nsNode) Name() string { return n.name }

// wrap makes c run inside the node: nsenter into its namespaces, which
// then execs the command with its own environment. The command's
// environment is nsenter's (nsenter finds the program on that PATH after
// entering the node's mount namespace), except when it preloads a library
// (a kernel profile's LD_PRELOAD names a path inside the node): the
// dynamic loader would try it for nsenter on the host, so then `env -i`
// sets the environment inside. An `env` exec per command was 5% of the
// whole matrix's CPU.
func (n *nsNode) wrap(c execx.Cmd) execx.Cmd {
	argv := enter(n.pid)
	if c.Env != nil && preloads(c.Env) {
		argv = append(append(argv, "env", "-i"), c.Env...)
		c.Env = nil
	}
	c.Argv = append(argv, c.Argv...)
	return c
}

// preloads says whether env asks the dynamic loader to preload a library.
func preloads(env []string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, "LD_PRELOAD=") || strings.HasPrefix(kv, "LD_LIBRARY_PATH=") || strings.HasPrefix(kv, "LD_AUDIT=") {
			return true
		}
	}
	return false
}

// Run runs c in the node's namespaces.
func (n *nsNode) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	res, err := execx.Host{}.Run(ctx, n.wrap(c))
	if ee, ok := err.(*execx.Error); ok {
		ee.Argv = c.Argv // name the command the caller ran, not nsenter
	}
	return res, err
}

// Start starts c in the node's namespaces with pipes.
func (n *nsNode) Start(ctx context.Context, c execx.Cmd, stderr io.Writer) (node.Stream, error) {
	return execx.StartPipe(ctx, n.wrap(c), stderr)
}

// CopyIn copies src into the node's filesystem (through its PID 1's root,
// which sees the node's private mounts). The copy is made by `install`, not
// by this process: a file this process held open for writing could be
// inherited by a child it forks meanwhile, and exec of the copied agent
// would then fail with ETXTBSY ("text file busy"). A big file the node
// sees at the same path (the agent, kube-proxy) is bind-mounted instead
// (see bindIn).
func (n *nsNode) CopyIn(ctx context.Context, src, dst string, mode os.FileMode) error {
	if !filepath.IsAbs(dst) || strings.Contains(dst, "..") {
		return fmt.Errorf("copy into %s: destination %q is not a clean absolute path", n.name, dst)
	}
	if bound, err := n.bindIn(ctx, src, dst, mode); bound {
		return err
	}
	target := filepath.Join(fmt.Sprintf("/proc/%d/root", n.pid), dst)
	argv := []string{"install", "-D", "-m", fmt.Sprintf("%o", mode.Perm()), src, target}
	if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: argv}); err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
	}
	return nil
}

// holderOf finds the node holder (PID 1 of a PID namespace other than
// lab's) among the processes of the named network namespace.
func holderOf(ctx context.Context, nsName string) (int, error) {
	out, err := execx.Output(ctx, execx.Host{}, "ip", "netns", "pids", nsName)
	if err != nil {
		return 0, err
	}
	for _, f := range strings.Fields(out) {
		data, err := os.ReadFile("/proc/" + f + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				ids := strings.Fields(v)
				if len(ids) == 2 && ids[1] == "1" {
					return strconv.Atoi(f)
				}
			}
		}
	}
	return 0, fmt.Errorf("namespace %s has no node holder process (was the node's PID 1 killed?)", nsName)
}

// bindMin is the size from which CopyIn bind-mounts a host file into the
// node instead of copying it: the agent (the lab binary) and kube-proxy
// are 30-40 MB, whose copy into every node's tmpfs cost more than the
// cell's probes on a loaded machine.
const bindMin = 8 << 20

// bindIn bind-mounts the host file src at dst in the node's mount
// namespace when src is big, already has mode and is visible in the node
// at the same path (netns nodes see the host's filesystem except their
// private directories). The mount dies with the node's mount namespace.
// It reports whether src was eligible (then CopyIn must not copy over a
// possible mount: its error stands) and the mount's error.
func (n *nsNode) bindIn(ctx context.Context, src, dst string, mode os.FileMode) (bool, error) {
	fi, err := os.Stat(src)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < bindMin || fi.Mode().Perm() != mode.Perm() || !filepath.IsAbs(src) {
		return false, nil
	}
	for _, d := range privateDirs {
		if src == d || strings.HasPrefix(src, d+"/") {
			return false, nil
		}
	}
	// A file pushed again is unmounted first: nothing may ever write
	// through the mount into the host's file.
	script := `umount "$1" 2>/dev/null; mkdir -p "$(dirname "$1")" && rm -f "$1" && : > "$1" && mount --bind "$0" "$1"`
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", script, src, dst}}); err != nil {
		return true, fmt.Errorf("bind %s into %s:%s: %w", src, n.name, dst, err)
	}
	return true, nil
}
