package lxdprov

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"lab/harness/execx"
	"lab/harness/node"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/gorilla/websocket"
)

// An LXD node is a privileged, nesting container started from the
// image's prepared snapshot. Its PID 1 is the lab's init script (see
// prepare.go): private tmpfs /run and /tmp, loopback up, and a shell that
// reaps orphans, as on netns. Commands go through LXD's exec API with the
// environment set by LXD inside the container; files go through the file
// API. The userspace is the image's own.
type ctNode struct {
	c        lxd.InstanceServer
	name     string // the feature's node name
	instance string // the LXD instance name (prefix-name)
	// pid, when not 0, is the host pid of the container's init: commands
	// enter its namespaces with nsenter instead of LXD's exec API
	// (Options.NsenterExec, local daemons only).
	pid int
	// image and fingerprint say what the container booted from (empty for
	// a VM: its image is the profile's vm.image)
	image, fingerprint string
}

// Describe says which node image the container runs (recorded with the
// facts the agent reads inside the node).
func (n *ctNode) Describe() map[string]string {
	if n.image == "" {
		return nil
	}
	return map[string]string{"image": n.image, "image_fingerprint": n.fingerprint}
}

// nsenter wraps c to run in the container's namespaces with its
// environment set inside (env -i).
func (n *ctNode) nsenter(c execx.Cmd) execx.Cmd {
	env := execEnv(c.Env)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	argv := []string{"nsenter", "-t", strconv.Itoa(n.pid), "-m", "-u", "-i", "-n", "-p", "--", "env", "-i"}
	for _, k := range keys {
		argv = append(argv, k+"="+env[k])
	}
	return execx.Cmd{Argv: append(argv, c.Argv...), Stdin: c.Stdin}
}

// defaultPath is the PATH of commands run without an environment.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (n *ctNode) Name() string { return n.name }

func execEnv(env []string) map[string]string {
	m := map[string]string{"PATH": defaultPath}
	if env == nil {
		return m
	}
	m = map[string]string{}
	for _, kv := range env {
		k, v, ok := bytesCut(kv)
		if ok {
			m[k] = v
		}
	}
	if _, ok := m["PATH"]; !ok {
		m["PATH"] = defaultPath
	}
	return m
}

func bytesCut(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], i > 0
		}
	}
	return "", "", false
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// control keeps the exec's control websocket to send signals.
type control struct {
	mu   sync.Mutex
	conn *websocket.Conn
	got  chan struct{}
}

func newControl() *control { return &control{got: make(chan struct{})} }

func (c *control) handler(conn *websocket.Conn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	close(c.got)
}

// signal sends sig to the exec'd process (when the control socket is up).
func (c *control) signal(sig int) {
	select {
	case <-c.got:
	case <-time.After(2 * time.Second):
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.WriteJSON(api.InstanceExecControl{Command: "signal", Signal: sig})
}

// exitCode reads the exec operation's return value.
func exitCode(op lxd.Operation) int {
	md := op.Get().Metadata
	if v, ok := md["return"].(float64); ok {
		return int(v)
	}
	return -1
}

// Run runs c in the container and waits for it; ctx's end kills it.
func (n *ctNode) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	if len(c.Argv) == 0 {
		return execx.Result{}, errors.New("lxd exec: empty command")
	}
	if n.pid != 0 {
		res, err := execx.Host{}.Run(ctx, n.nsenter(c))
		if ee, ok := err.(*execx.Error); ok {
			ee.Argv = c.Argv // name the command the caller ran, not nsenter
		}
		return res, err
	}
	var stdout, stderr bytes.Buffer
	ctl := newControl()
	done := make(chan bool)
	op, err := n.c.ExecInstance(n.instance, api.InstanceExecPost{
		Command: c.Argv, Environment: execEnv(c.Env), WaitForWS: true,
	}, &lxd.InstanceExecArgs{
		Stdin: bytes.NewReader(c.Stdin), Stdout: nopWriteCloser{&stdout}, Stderr: nopWriteCloser{&stderr},
		Control: ctl.handler, DataDone: done,
	})
	if err != nil {
		return execx.Result{}, &execx.Error{Argv: c.Argv, ExitCode: -1, Err: fmt.Errorf("lxd exec in %s: %w", n.instance, err)}
	}
	werr := op.WaitContext(ctx)
	if ctx.Err() != nil {
		ctl.signal(9)
		_ = op.Wait()
	}
	<-done
	res := execx.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	code := exitCode(op)
	switch {
	case ctx.Err() != nil:
		return res, &execx.Error{Argv: c.Argv, ExitCode: -1, Stdout: stdout.String(), Stderr: stderr.String(), Err: ctx.Err()}
	case werr != nil:
		return res, &execx.Error{Argv: c.Argv, ExitCode: -1, Stdout: stdout.String(), Stderr: stderr.String(), Err: fmt.Errorf("lxd exec in %s: %w", n.instance, werr)}
	case code != 0:
		return res, &execx.Error{Argv: c.Argv, ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String()}
	}
	return res, nil
}

// stream is a command started with Start.
type stream struct {
	argv    []string
	node    *ctNode
	pidFile string // in the node: the command's pid
	op      lxd.Operation
	ctl     *control
	stdinW  *io.PipeWriter
	stdout  *io.PipeReader
	done    chan struct{} // closed when the command ended and output is copied
	err     error
}

func (s *stream) Stdin() io.WriteCloser { return s.stdinW }
func (s *stream) Stdout() io.Reader     { return s.stdout }

// Wait waits for the command to end.
func (s *stream) Wait() error {
	<-s.done
	return s.err
}

// Kill closes stdin, gives the command a moment to end on EOF, then kills
// it and every process it started (its process tree in the node) and waits.
func (s *stream) Kill() error {
	_ = s.stdinW.Close()
	select {
	case <-s.done:
		return nil
	case <-time.After(300 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.node.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", killTree, "kill-tree", s.pidFile}})
	s.ctl.signal(9)
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("kill %s: still running 10s after SIGKILL", execx.Quote(s.argv))
	}
	return nil
}

// startWrap records the pid of a started command ($0 is the pid file)
// before exec'ing it, so Kill can end its whole process tree.
const startWrap = `echo $$ > "$0"; exec "$@"`

// killTree kills the process in the pid file $1 and its descendants.
const killTree = `f=$1; p=$(cat "$f" 2>/dev/null) || exit 0; rm -f "$f"
all=$p; todo=$p
while [ -n "$todo" ]; do
  next=
  for q in $todo; do next="$next $(cat /proc/$q/task/*/children 2>/dev/null)"; done
  todo=$(echo $next); all="$all $todo"
done
kill -STOP $all 2>/dev/null; kill -9 $all 2>/dev/null; exit 0`

// Start starts c with its stdin and stdout as websockets of LXD's exec API.
func (n *ctNode) Start(ctx context.Context, c execx.Cmd, stderr io.Writer) (node.Stream, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("lxd exec: empty command")
	}
	if n.pid != 0 {
		return execx.StartPipe(ctx, n.nsenter(c), stderr)
	}
	if stderr == nil {
		stderr = io.Discard
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	rnd := make([]byte, 8)
	_, _ = rand.Read(rnd)
	pidFile := "/run/.lab-stream-" + hex.EncodeToString(rnd)
	s := &stream{argv: c.Argv, node: n, pidFile: pidFile, ctl: newControl(), stdinW: inW, stdout: outR, done: make(chan struct{})}
	data := make(chan bool)
	op, err := n.c.ExecInstance(n.instance, api.InstanceExecPost{
		Command: append([]string{"sh", "-c", startWrap, pidFile}, c.Argv...), Environment: execEnv(c.Env), WaitForWS: true,
	}, &lxd.InstanceExecArgs{
		Stdin: inR, Stdout: outW, Stderr: nopWriteCloser{stderr}, Control: s.ctl.handler, DataDone: data,
	})
	if err != nil {
		inR.Close()
		outW.Close()
		return nil, fmt.Errorf("lxd exec %s in %s: %w", execx.Quote(c.Argv), n.instance, err)
	}
	s.op = op
	go func() {
		werr := op.Wait()
		<-data
		outW.Close()
		inR.Close()
		if werr != nil {
			s.err = fmt.Errorf("%s in %s: %w", execx.Quote(c.Argv), n.instance, werr)
		} else if code := exitCode(op); code != 0 {
			s.err = &execx.Error{Argv: c.Argv, ExitCode: code}
		}
		close(s.done)
		if s.err == nil {
			_, _ = n.Run(context.Background(), execx.Cmd{Argv: []string{"rm", "-f", pidFile}})
		}
	}()
	return s, nil
}

// CopyIn pushes src to dst, creating dst's directories: through LXD's
// file API, or when commands go through nsenter, with the host's install
// into the node's directory through /proc/PID/root when it exists and
// has no symbolic link on the way (hostPath), else with nsenter (the
// node's own mkdir, cat and mv, so paths resolve inside the node). Either
// way dst is replaced, never written over in place (a running binary
// stays intact).
func (n *ctNode) CopyIn(ctx context.Context, src, dst string, mode os.FileMode) error {
	if !filepath.IsAbs(dst) {
		return fmt.Errorf("copy into %s: destination %q is not absolute", n.name, dst)
	}
	if n.pid != 0 {
		if root, ok := n.hostPath(filepath.Dir(dst)); ok {
			// the node's directory, seen from the host through its init's
			// root: one install (not this process: a file it held open for
			// writing could be inherited by a child it forks meanwhile, and
			// exec of the copy would fail with ETXTBSY), then a rename
			tmp := filepath.Join(root, filepath.Base(dst)) + ".lab-tmp"
			argv := []string{"install", "-D", "-m", strconv.FormatUint(uint64(mode.Perm()), 8), src, tmp}
			if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: argv}); err != nil {
				return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
			}
			if err := os.Rename(tmp, filepath.Join(root, filepath.Base(dst))); err != nil {
				_ = os.Remove(tmp)
				return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
			}
			return nil
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
		}
		if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", copyIn, "copy-in", dst, strconv.FormatUint(uint64(mode.Perm()), 8)}, Stdin: b}); err != nil {
			return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
		}
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
	}
	defer f.Close()
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"mkdir", "-p", filepath.Dir(dst)}}); err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
	}
	err = n.c.CreateInstanceFile(n.instance, dst, lxd.InstanceFileArgs{
		Content: f, Mode: int(mode.Perm()), Type: "file", WriteMode: "overwrite",
	})
	if err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
	}
	return nil
}

// hostPath returns the host path of the node's directory dir (through
// /proc/PID/root, which sees the node's own mounts, its private /run and
// /tmp) when none of its existing components is a symbolic link (one
// would resolve against the host's root there) or other than a directory;
// missing ones are made by install -D.
func (n *ctNode) hostPath(dir string) (string, bool) {
	root := fmt.Sprintf("/proc/%d/root", n.pid)
	p := root
	for _, c := range strings.Split(strings.Trim(filepath.Clean(dir), "/"), "/") {
		if c == "" {
			continue
		}
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(root, filepath.Clean(dir)), true // the rest is made by install -D
		}
		if err != nil || !fi.IsDir() {
			return "", false
		}
	}
	return p, true
}

// copyIn writes stdin to $1 with mode $2 (octal) inside the node: a
// temporary file beside it, renamed over it.
const copyIn = `set -e; mkdir -p "$(dirname "$1")"; cat > "$1.lab-tmp"; chmod "$2" "$1.lab-tmp"; mv -f "$1.lab-tmp" "$1"`
