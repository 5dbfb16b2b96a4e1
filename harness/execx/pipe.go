package execx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Pipe is a long-running command whose standard input and output the
// caller talks to (an agent in a node). It runs in a process group of its
// own, so a Ctrl-C sent to lab's group never reaches it.
type Pipe struct {
	argv   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser

	once sync.Once
	err  error
	done chan struct{}
}

// StartPipe starts c with pipes on its standard input and output; stderr
// (nil: discarded) receives its standard error. The context only bounds
// the start: the command lives until Kill or its own exit.
func StartPipe(ctx context.Context, c Cmd, stderr io.Writer) (*Pipe, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("execx: empty command")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", Quote(c.Argv), err)
	}
	cmd := exec.Command(c.program(), c.Argv[1:]...)
	cmd.Args[0] = c.Argv[0]
	if c.Env != nil {
		cmd.Env = c.Env
	}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", Quote(c.Argv), err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", Quote(c.Argv), err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", Quote(c.Argv), err)
	}
	p := &Pipe{argv: c.Argv, cmd: cmd, stdin: in, stdout: out, done: make(chan struct{})}
	return p, nil
}

// Stdin is the command's standard input.
func (p *Pipe) Stdin() io.WriteCloser { return p.stdin }

// Stdout is the command's standard output.
func (p *Pipe) Stdout() io.Reader { return p.stdout }

// Wait waits for the command to end (once; later calls return the same).
func (p *Pipe) Wait() error {
	p.once.Do(func() {
		err := p.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%s: %w", Quote(p.argv), err)
		}
		p.err = err
		close(p.done)
	})
	<-p.done
	return p.err
}

// Kill closes stdin, gives the command a moment to end on its own, then
// kills its process group and waits for it.
func (p *Pipe) Kill() error {
	_ = p.stdin.Close()
	waited := make(chan struct{})
	go func() { _ = p.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-time.After(2 * time.Second):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-waited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", Quote(p.argv), p.cmd.Process.Pid)
	}
}
