// Package execx is the single place where lab runs external commands. It
// captures stdout and stderr and returns errors that carry the quoted command
// line and its output, so a failure always says what ran and what it printed.
package execx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Cmd describes one external command.
type Cmd struct {
	// Argv is the program and its arguments; Argv[0] is looked up in PATH.
	Argv []string
	// Stdin, when not nil, is written to the command's standard input.
	Stdin []byte
	// Env, when not nil, replaces the environment of the command.
	Env []string
	// Path, when set, is the file executed (Argv[0] then is only the
	// name the program sees); see Resolve.
	Path string
}

// Result is what a finished command printed.
type Result struct {
	Stdout []byte
	Stderr []byte
}

// Runner runs commands somewhere: on the host, in a network namespace, in a
// container. Steps and drivers only ever see this interface.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// Error is returned when a command cannot start or exits non-zero.
type Error struct {
	Argv     []string
	ExitCode int // -1 when the command did not start or was killed
	Stdout   string
	Stderr   string
	Err      error
}

// Error names the command, its exit status and its output.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", Quote(e.Argv))
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, "exit status %d", e.ExitCode)
	} else {
		b.WriteString(e.Err.Error())
	}
	out := strings.TrimSpace(e.Stderr)
	if out == "" {
		out = strings.TrimSpace(e.Stdout)
	}
	if out != "" {
		fmt.Fprintf(&b, ": %s", out)
	}
	return b.String()
}

// Unwrap returns the underlying error from os/exec.
func (e *Error) Unwrap() error { return e.Err }

// Output returns stderr and stdout together, for evidence.
func (e *Error) Output() string { return strings.TrimSpace(e.Stderr + e.Stdout) }

// Quote renders argv as a shell-like command line.
func Quote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`*?[]{}()<>|&;#") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Host runs commands in the calling thread's namespaces (the host, unless the
// caller switched namespaces with netns.Do), each in a process group of its
// own.
type Host struct{}

// Run runs c and waits for it.
func (Host) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("execx: empty command")
	}
	cmd := exec.CommandContext(ctx, c.program(), c.Argv[1:]...)
	cmd.Args[0] = c.Argv[0]
	// Its own process group: a Ctrl-C to lab's group (the terminal's
	// foreground group) never kills a command, teardown's included; lab
	// decides what stops. Cancelling ctx kills the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	if c.Env != nil {
		cmd.Env = c.Env
	}
	// Its own process group: a Ctrl-C sent to lab's group does not reach
	// it, and a cancelled command is killed with everything it forked
	// (nsenter's child in a node, a shell's pipeline).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			code = -1
		}
		return res, &Error{Argv: c.Argv, ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	}
	return res, nil
}

// Output is a shorthand that runs argv with r and returns its stdout.
func Output(ctx context.Context, r Runner, argv ...string) (string, error) {
	res, err := r.Run(ctx, Cmd{Argv: argv})
	return string(res.Stdout), err
}

// LookPath reports whether each program exists in PATH, returning an error
// naming the missing ones and how to install them.
func LookPath(progs map[string]string) error {
	var missing []string
	for prog, pkg := range progs {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", prog, pkg))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("missing programs: %s; run `make deps` as root", strings.Join(missing, ", "))
}

// program is the path to execute for c: Path, or Argv[0] resolved in the
// command's own PATH (when it sets an environment), not lab's.
func (c Cmd) program() string {
	if c.Path != "" {
		return c.Path
	}
	name := c.Argv[0]
	if c.Env != nil && !strings.Contains(name, "/") {
		if p, ok := lookIn(name, c.Env); ok {
			return p
		}
	}
	return name
}

// Resolve returns the file to execute for c strictly as a shell with c's
// environment would find it: Path; Argv[0] when it holds a slash; else
// Argv[0] looked up in the PATH of Env (of this process when Env is nil).
// It fails with an error wrapping exec.ErrNotFound when there is none.
func (c Cmd) Resolve() (string, error) {
	if len(c.Argv) == 0 {
		return "", errors.New("execx: empty command")
	}
	if c.Path != "" {
		return c.Path, nil
	}
	name := c.Argv[0]
	if strings.Contains(name, "/") {
		return name, nil
	}
	if c.Env == nil {
		return exec.LookPath(name)
	}
	if p, ok := lookIn(name, c.Env); ok {
		return p, nil
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// lookIn finds an executable name in the PATH of env.
func lookIn(name string, env []string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		path, ok := strings.CutPrefix(env[i], "PATH=")
		if !ok {
			continue
		}
		for _, dir := range filepath.SplitList(path) {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, true
			}
		}
		return "", false
	}
	return "", false
}

// Replace replaces the lab process with argv (an interactive shell), with
// env as its environment. It returns only on failure.
func Replace(argv, env []string) error {
	p, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s: %w", Quote(argv), err)
	}
	if err := syscall.Exec(p, argv, env); err != nil {
		return fmt.Errorf("%s: %w", Quote(argv), err)
	}
	return nil
}
