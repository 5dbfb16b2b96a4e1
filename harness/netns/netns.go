// Package netns is the one place where lab switches network namespaces and
// creates or removes named ones. Named namespaces live under /var/run/netns,
// exactly as `ip netns` keeps them, so `ip netns exec NAME sh` enters a node.
package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"lab/harness/execx"

	vns "github.com/vishvananda/netns"
)

// Dir is where named network namespaces are bind-mounted.
const Dir = "/var/run/netns"

// Path returns the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// Do runs fn on an OS thread switched into the namespace at path. It runs on
// a fresh goroutine so the caller's thread is never touched; if switching
// back fails, the thread stays locked and Go discards it when fn's goroutine
// ends. Processes started inside fn inherit the namespace; goroutines started
// inside fn do not.
//
// An empty path means the caller's own namespace: fn runs right away.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vns.Get()
		if err != nil {
			errc <- fmt.Errorf("netns: get current namespace: %w", err)
			return // thread stays locked and is thrown away
		}
		defer orig.Close()
		target, err := vns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := vns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := vns.Set(orig); err != nil {
			errc <- fmt.Errorf("netns: return from %s: %w (thread discarded)", path, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Runner runs commands inside one named network namespace.
type Runner struct {
	// Path is the namespace's bind-mount path.
	Path string
	// Env is added to every command's environment (e.g. PATH or LD_PRELOAD).
	Env []string
}

// Run runs c inside the namespace.
func (r Runner) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	if len(r.Env) > 0 {
		base := c.Env
		if base == nil {
			base = os.Environ()
		}
		c.Env = MergeEnv(base, r.Env)
	}
	var res execx.Result
	err := Do(r.Path, func() error {
		var rerr error
		res, rerr = execx.Host{}.Run(ctx, c)
		return rerr
	})
	return res, err
}

// MergeEnv returns base with every KEY=VALUE in over replacing or adding.
func MergeEnv(base, over []string) []string {
	out := make([]string, 0, len(base)+len(over))
	keys := map[string]bool{}
	for _, kv := range over {
		keys[strings.SplitN(kv, "=", 2)[0]] = true
	}
	for _, kv := range base {
		if !keys[strings.SplitN(kv, "=", 2)[0]] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}

// Create adds a named namespace with `ip netns add` and brings its loopback up.
func Create(ctx context.Context, name string) (string, error) {
	if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: []string{"ip", "netns", "add", name}}); err != nil {
		if ctx.Err() != nil { // killed midway: the namespace may exist
			_ = Delete(context.WithoutCancel(ctx), name)
		}
		return "", fmt.Errorf("create namespace %s: %w", name, err)
	}
	p := Path(name)
	if _, err := (Runner{Path: p}).Run(ctx, execx.Cmd{Argv: []string{"ip", "link", "set", "lo", "up"}}); err != nil {
		_ = Delete(context.Background(), name)
		return "", fmt.Errorf("namespace %s: %w", name, err)
	}
	return p, nil
}

// Delete kills every process still inside the named namespace and removes it.
// A namespace that does not exist is not an error.
func Delete(ctx context.Context, name string) error {
	if _, err := os.Stat(Path(name)); os.IsNotExist(err) {
		return nil
	}
	h := execx.Host{}
	if out, err := execx.Output(ctx, h, "ip", "netns", "pids", name); err == nil {
		self := strconv.Itoa(os.Getpid())
		var killed []string
		for _, pid := range strings.Fields(out) {
			if pid == self {
				continue
			}
			_, _ = h.Run(ctx, execx.Cmd{Argv: []string{"kill", "-9", pid}})
			killed = append(killed, pid)
		}
		// SIGKILL is delivered asynchronously: wait until the processes are
		// dead (gone or zombies), so nothing runs in the node once Delete
		// returns, even on a loaded machine
		waitDead(ctx, killed, 10*time.Second)
	}
	if _, err := h.Run(ctx, execx.Cmd{Argv: []string{"ip", "netns", "delete", name}}); err != nil {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// waitDead waits, up to limit, until every pid has exited or is a zombie.
func waitDead(ctx context.Context, pids []string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return false
	}
	// the state follows the command name, which is in parentheses
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// List returns the named namespaces whose name starts with prefix, sorted.
func List(prefix string) ([]string, error) {
	ents, err := os.ReadDir(Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Start starts a long-running command inside the namespace at path (see
// execx.Start); the process keeps the namespace after Start returns.
func Start(path string, c execx.Cmd, logPath string) (*execx.Process, error) {
	return execx.Start(c, logPath, func(start func() error) error { return Do(path, start) })
}

// Listen opens a listener whose socket belongs to the namespace at path (a
// socket keeps the namespace it was created in), so a server in a pod or
// host namespace can be served from lab's own goroutines.
func Listen(path, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(path, func() error {
		var lerr error
		ln, lerr = net.Listen(network, addr)
		return lerr
	})
	return ln, err
}

// ListenPacket opens a packet socket (UDP) inside the namespace at path ("":
// the caller's own).
func ListenPacket(path, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := Do(path, func() error {
		var lerr error
		pc, lerr = net.ListenPacket(network, addr)
		return lerr
	})
	return pc, err
}
