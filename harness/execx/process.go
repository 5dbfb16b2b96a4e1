package execx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a long-running command (a daemon, a monitor) started by Start.
type Process struct {
	// Argv is the command line the process was started with.
	Argv []string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result, valid after done is closed
}

// Start starts c without waiting for it, with stdout and stderr appended to
// logPath, in a process group of its own (signals for lab's group do not
// reach it). within, when not nil, wraps the start (netns.Start uses it to
// start the process inside a namespace). The process is reaped in the
// background; end it with Stop.
func Start(c Cmd, logPath string, within func(func() error) error) (*Process, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("execx: empty command")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", Quote(c.Argv), err)
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(c.program(), c.Argv[1:]...)
	cmd.Args[0] = c.Argv[0]
	cmd.Env = c.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if within == nil {
		err = cmd.Start()
	} else {
		err = within(cmd.Start)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", Quote(c.Argv), err)
	}
	p := &Process{Argv: c.Argv, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Err returns how the process ended (Wait's error); nil while it runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Pid returns the process id, or 0 for a nil Process.
func (p *Process) Pid() int {
	if p == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process has ended and been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to grace (or until ctx ends), then kills the
// whole process group and waits for the process to be reaped. Stopping an
// exited or nil process does nothing.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	if p == nil || p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", Quote(p.Argv), p.Pid())
	}
}
