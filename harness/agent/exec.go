package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"lab/harness/execx"
)

// OpExec runs one command in the node as a child of the agent (ExecArgs,
// ExecResult): what the provider's exec (nsenter, docker exec) does, without
// an exec or an API round trip per command.
const OpExec = "exec"

// ExecArgs is one command to run in the node.
type ExecArgs struct {
	// Argv is the program and its arguments.
	Argv []string `json:"argv"`
	// Env, when not nil, replaces the environment, and Argv[0] is looked
	// up in its PATH; nil: the agent's own environment (without EnvAgent).
	Env []string `json:"env"`
	// Stdin, when not nil, is written to the command's standard input
	// (otherwise it reads /dev/null).
	Stdin []byte `json:"stdin,omitempty"`
}

// ExecResult is how the command ended and what it printed.
type ExecResult struct {
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
	// ExitCode is the exit status: 127 when the program was not found
	// and 126 when it could not be executed (as nsenter, env or a shell
	// report it, with the reason on stderr); -1 when it did not start
	// for another reason or was killed, with the reason in Err.
	ExitCode int    `json:"exit_code"`
	Err      string `json:"err,omitempty"`
}

// exec runs the command in its own process group (execx.Host); a
// cancelled request kills the group and returns what it had printed.
func (a *Agent) exec(ctx context.Context, e ExecArgs) (ExecResult, error) {
	if len(e.Argv) == 0 {
		return ExecResult{}, errors.New("exec: empty command")
	}
	c := execx.Cmd{Argv: e.Argv, Env: e.Env, Stdin: e.Stdin}
	if c.Env == nil {
		c.Env = ownEnv()
	}
	path, err := c.Resolve()
	if err != nil {
		return notStarted(e.Argv[0], err), nil
	}
	c.Path = path
	res, err := execx.Host{}.Run(ctx, c)
	out := ExecResult{Stdout: res.Stdout, Stderr: res.Stderr}
	if err == nil {
		return out, nil
	}
	var xe *execx.Error
	if !errors.As(err, &xe) {
		return ExecResult{}, err
	}
	var exited *exec.ExitError
	if xe.ExitCode < 0 && ctx.Err() == nil && !errors.As(xe.Err, &exited) {
		// fork/exec failed: the program never ran.
		return notStarted(e.Argv[0], xe.Err), nil
	}
	out.ExitCode = xe.ExitCode
	if xe.ExitCode < 0 {
		out.Err = xe.Err.Error()
	}
	return out, nil
}

// notStarted is the result of a command whose program could not be
// executed: exit status 127 (not found) or 126 (not executable) with the
// reason on stderr, as nsenter reports it; -1 with the reason otherwise.
func notStarted(name string, err error) ExecResult {
	code := -1
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOENT):
		code = 127
		err = syscall.ENOENT
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.EISDIR):
		code = 126
		var se syscall.Errno
		if errors.As(err, &se) {
			err = se
		}
	}
	if code < 0 {
		return ExecResult{ExitCode: -1, Err: err.Error()}
	}
	msg := fmt.Sprintf("lab agent: failed to execute %s: %v\n", name, err)
	return ExecResult{ExitCode: code, Stderr: []byte(msg)}
}

// ownEnv is the agent's environment without the variable that makes a
// lab binary run as the agent.
func ownEnv() []string {
	env := os.Environ()
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvAgent+"=") {
			out = append(out, kv)
		}
	}
	return out
}
