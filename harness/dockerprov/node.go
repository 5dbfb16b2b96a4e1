package dockerprov

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lab/harness/execx"
	"lab/harness/node"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// A docker node is a running container of a node image: PID 1 is the
// engine's init (docker-init, so a stop takes 0.1 s), its child `sleep
// infinity` keeps the container up. Every command is a docker exec through
// the engine's API; its environment is set inside the container with
// `env -i`, exactly as on netns nodes.
type dkNode struct {
	name string
	id   string // container ID
	pid  int    // host PID of the container's init (its namespaces)
	cli  *client.Client
	// image and fingerprint say what the node booted from.
	image, tag, fingerprint string

	// netMu serialises Connect's interface renames in this container.
	netMu sync.Mutex
}

func (n *dkNode) Name() string { return n.name }

// Describe says which node image the container runs (recorded with the
// facts the agent reads inside the node).
func (n *dkNode) Describe() map[string]string {
	return map[string]string{
		"image":             n.image + " (docker image " + n.tag + ")",
		"image_fingerprint": n.fingerprint,
	}
}

// argv is what the exec runs: c.Argv, under `env -i` when c.Env is set.
func argv(c execx.Cmd) []string {
	if c.Env == nil {
		return c.Argv
	}
	out := append([]string{"env", "-i"}, c.Env...)
	return append(out, c.Argv...)
}

// exec is one started docker exec with its hijacked stream.
type exec struct {
	n    *dkNode
	argv []string
	id   string
	att  client.ExecAttachResult
	done chan struct{} // closed when the output is drained
	err  error         // copy error, valid after done
}

// start creates and attaches an exec; stdout and stderr receive its
// demultiplexed output.
func (n *dkNode) start(ctx context.Context, c execx.Cmd, stdin bool, stdout, stderr io.Writer) (*exec, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("dockerprov: empty command")
	}
	cr, err := n.cli.ExecCreate(ctx, n.id, client.ExecCreateOptions{
		AttachStdin: stdin, AttachStdout: true, AttachStderr: true, Cmd: argv(c),
	})
	if err != nil {
		return nil, &execx.Error{Argv: c.Argv, ExitCode: -1, Err: fmt.Errorf("docker exec in %s: %w", n.name, err)}
	}
	att, err := n.cli.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, &execx.Error{Argv: c.Argv, ExitCode: -1, Err: fmt.Errorf("docker exec in %s: %w", n.name, err)}
	}
	if stderr == nil {
		stderr = io.Discard
	}
	e := &exec{n: n, argv: c.Argv, id: cr.ID, att: att, done: make(chan struct{})}
	go func() {
		_, e.err = stdcopy.StdCopy(stdout, stderr, att.Reader)
		close(e.done)
	}()
	return e, nil
}

// exitCode waits for the engine to report the exec's exit code.
func (e *exec) exitCode(ctx context.Context) (int, error) {
	for i := 0; ; i++ {
		ins, err := e.n.cli.ExecInspect(ctx, e.id, client.ExecInspectOptions{})
		if err != nil {
			return -1, err
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		if i > 500 {
			return -1, fmt.Errorf("exec %s still running after its output ended", e.id)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// kill kills the exec's process and everything it started. The engine has
// no API for it: the exec's host PID (the lab runs beside its engine) is
// killed with its descendants, and only while that PID is still a process
// of the container (the engine may report an exec running a moment after
// it ended, and PIDs are reused quickly on a busy host).
func (e *exec) kill() {
	ins, err := e.n.cli.ExecInspect(context.Background(), e.id, client.ExecInspectOptions{})
	if err != nil || !ins.Running || ins.PID <= 0 {
		return
	}
	own, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", e.n.pid))
	if err != nil {
		return
	}
	if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", ins.PID)); err != nil || ns != own {
		return
	}
	killTree(ins.PID, own)
}

// killTree SIGKILLs pid and its descendants in the PID namespace ns
// (children first, so none is re-parented out of reach).
func killTree(pid int, ns string) {
	for _, c := range children(pid) {
		killTree(c, ns)
	}
	if cur, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && cur == ns {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(data)) {
			if v, err := strconv.Atoi(f); err == nil {
				out = append(out, v)
			}
		}
	}
	return out
}

// Run runs c in the container and waits for it.
func (n *dkNode) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	var stdout, stderr bytes.Buffer
	e, err := n.start(ctx, c, c.Stdin != nil, &stdout, &stderr)
	if err != nil {
		return execx.Result{}, err
	}
	defer e.att.Close()
	if c.Stdin != nil {
		go func() {
			_, _ = e.att.Conn.Write(c.Stdin)
			_ = e.att.CloseWrite()
		}()
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		e.kill()
		e.att.Close()
		<-e.done
	}
	res := execx.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if ctx.Err() != nil {
		return res, &execx.Error{Argv: c.Argv, ExitCode: -1, Stdout: stdout.String(), Stderr: stderr.String(), Err: ctx.Err()}
	}
	code, err := e.exitCode(ctx)
	if err == nil && code == 0 {
		return res, nil
	}
	if err == nil {
		err = fmt.Errorf("exit status %d", code)
	}
	return res, &execx.Error{Argv: c.Argv, ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// Start starts c in the container with its standard input and output
// attached (a hijacked connection; stdout and stderr demultiplexed).
func (n *dkNode) Start(ctx context.Context, c execx.Cmd, stderr io.Writer) (node.Stream, error) {
	pr, pw := io.Pipe()
	e, err := n.start(ctx, c, true, pw, stderr)
	if err != nil {
		return nil, err
	}
	s := &stream{e: e, stdout: pr, waited: make(chan struct{})}
	go func() {
		<-e.done
		pw.CloseWithError(io.EOF)
	}()
	return s, nil
}

// stream is a started exec (node.Stream).
type stream struct {
	e      *exec
	stdout io.Reader
	once   sync.Once
	err    error
	waited chan struct{}
}

type stdin struct{ e *exec }

func (w stdin) Write(p []byte) (int, error) { return w.e.att.Conn.Write(p) }
func (w stdin) Close() error                { return w.e.att.CloseWrite() }

func (s *stream) Stdin() io.WriteCloser { return stdin{s.e} }
func (s *stream) Stdout() io.Reader     { return s.stdout }

// Wait waits for the command to end and returns its exit status.
func (s *stream) Wait() error {
	s.once.Do(func() {
		<-s.e.done
		code, err := s.e.exitCode(context.Background())
		if err == nil && code != 0 {
			err = fmt.Errorf("exit status %d", code)
		}
		if err != nil {
			s.err = fmt.Errorf("%s in %s: %w", execx.Quote(s.e.argv), s.e.n.name, err)
		}
		s.e.att.Close()
		close(s.waited)
	})
	<-s.waited
	return s.err
}

// Kill closes stdin, gives the command a moment to end on its own, then
// kills it and what it started, and waits for it.
func (s *stream) Kill() error {
	_ = s.e.att.CloseWrite()
	done := make(chan struct{})
	go func() { _ = s.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(2 * time.Second):
	}
	s.e.kill()
	s.e.att.Close()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s in %s still running after SIGKILL", execx.Quote(s.e.argv), s.e.n.name)
	}
}

// CopyIn copies the host file src to dst in the container (the engine's
// archive upload of a one-file tar into dst's directory, made first).
func (n *dkNode) CopyIn(ctx context.Context, src, dst string, mode os.FileMode) error {
	if !filepath.IsAbs(dst) {
		return fmt.Errorf("copy into %s: destination %q is not absolute", n.name, dst)
	}
	wrap := func(err error) error { return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err) }
	f, err := os.Open(src)
	if err != nil {
		return wrap(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return wrap(err)
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"mkdir", "-p", filepath.Dir(dst)}}); err != nil {
		return wrap(err)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: filepath.Base(dst), Mode: int64(mode.Perm()), Size: st.Size(),
			ModTime: st.ModTime(), Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err = n.cli.CopyToContainer(ctx, n.id, client.CopyToContainerOptions{DestinationPath: filepath.Dir(dst), Content: pr})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return wrap(err)
	}
	return nil
}
