package sim

import (
	"context"
	"errors"
	"fmt"

	"lab/harness/agent"
	"lab/harness/execx"
)

// agentRun runs c through the agent and answers as a provider's Run does.
func agentRun(ctx context.Context, a *agent.Conn, name string, c execx.Cmd) (execx.Result, error) {
	if len(c.Argv) == 0 {
		return execx.Result{}, errors.New("execx: empty command")
	}
	var r agent.ExecResult
	err := a.Call(ctx, agent.OpExec, agent.ExecArgs{Argv: c.Argv, Env: c.Env, Stdin: c.Stdin}, &r)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return execx.Result{}, &execx.Error{Argv: c.Argv, ExitCode: -1, Err: err}
	}
	res := execx.Result{Stdout: r.Stdout, Stderr: r.Stderr}
	if r.ExitCode == 0 && r.Err == "" {
		return res, nil
	}
	xe := &execx.Error{Argv: c.Argv, ExitCode: r.ExitCode, Stdout: string(r.Stdout), Stderr: string(r.Stderr)}
	if r.ExitCode < 0 {
		xe.Err = errors.New(r.Err)
		if ctx.Err() != nil {
			xe.Err = fmt.Errorf("%w (%s)", ctx.Err(), r.Err)
		}
	} else {
		xe.Err = fmt.Errorf("exit status %d", r.ExitCode)
	}
	return res, xe
}
