package firewalld

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"lab/harness/execx"
	"lab/harness/netns"
)

// Process is a long-running daemon started with StartProcess. execx only
// runs commands to completion, so daemons are started here; the lead may move
// this into execx.
type Process struct {
	// Argv is the command line the daemon was started with.
	Argv []string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result, valid after done is closed
}

// StartProcess starts argv inside the network namespace at nsPath without
// waiting for it, with env as its whole environment and stdout and stderr
// appended to logPath. The process gets its own process group, so signals
// meant for the caller's group do not reach it. It is reaped in the
// background; stop it with Stop.
func StartProcess(nsPath string, argv, env []string, logPath string) (*Process, error) {
	if len(argv) == 0 {
		return nil, errors.New("firewalld: empty command")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", execx.Quote(argv), err)
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := netns.Do(nsPath, cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", execx.Quote(argv), err)
	}
	p := &Process{Argv: argv, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
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
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", execx.Quote(p.Argv), p.Pid())
	}
}

// nsID identifies a namespace by the device and inode of its /proc file.
type nsID struct{ dev, ino uint64 }

// mountNS returns the mount namespace of pid ("self" for this process).
func mountNS(pid string) (nsID, error) {
	fi, err := os.Stat(filepath.Join("/proc", pid, "ns", "mnt"))
	if err != nil {
		return nsID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nsID{}, fmt.Errorf("stat /proc/%s/ns/mnt: no inode", pid)
	}
	return nsID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// members returns the pids of every process in the mount namespace id.
func members(id nsID) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := mountNS(e.Name()); err == nil && got == id {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killMembers SIGKILLs every process left in the mount namespace id until
// none is left, or returns an error naming the survivors.
func killMembers(id nsID) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := members(id)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still in the private mount namespace: %v", pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n bytes of the file at path, for error messages.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}
