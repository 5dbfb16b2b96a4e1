package agent

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// execClient serves the agent's real handlers over in-memory pipes (no
// node, no root): the commands run as children of this test process.
func execClient(t *testing.T) *Client {
	t.Helper()
	a := New(io.Discard)
	c, done := pipePair(t, a.Handlers())
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
		a.Close()
	})
	return c
}

func callExec(t *testing.T, c *Client, args ExecArgs) ExecResult {
	t.Helper()
	var r ExecResult
	if err := c.Call(context.Background(), OpExec, args, &r); err != nil {
		t.Fatalf("exec %q: %v", args.Argv, err)
	}
	return r
}

func TestExecExitCodeAndOutput(t *testing.T) {
	c := execClient(t)
	r := callExec(t, c, ExecArgs{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if r.ExitCode != 3 || string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" || r.Err != "" {
		t.Errorf("exit 3 = %+v (stdout %q, stderr %q)", r, r.Stdout, r.Stderr)
	}
	r = callExec(t, c, ExecArgs{Argv: []string{"sh", "-c", "printf '\\377\\000x'"}})
	if r.ExitCode != 0 || string(r.Stdout) != "\xff\x00x" {
		t.Errorf("binary stdout = %q, exit %d", r.Stdout, r.ExitCode)
	}
	r = callExec(t, c, ExecArgs{Argv: []string{"cat"}, Stdin: []byte("from stdin\n")})
	if r.ExitCode != 0 || string(r.Stdout) != "from stdin\n" {
		t.Errorf("cat with stdin = %q, exit %d", r.Stdout, r.ExitCode)
	}
	// No stdin given: the command reads end of file, not the agent's input.
	r = callExec(t, c, ExecArgs{Argv: []string{"cat"}})
	if r.ExitCode != 0 || len(r.Stdout) != 0 {
		t.Errorf("cat without stdin = %q, exit %d", r.Stdout, r.ExitCode)
	}
	if err := c.Call(context.Background(), OpExec, ExecArgs{}, nil); err == nil || !strings.Contains(err.Error(), "empty command") {
		t.Errorf("empty argv = %v", err)
	}
	// Output over the protocol's line limit is an error of this call,
	// not the end of the connection.
	big := ExecArgs{Argv: []string{"head", "-c", strconv.Itoa(MaxLine), "/dev/zero"}}
	if err := c.Call(context.Background(), OpExec, big, nil); err == nil || !strings.Contains(err.Error(), "line limit") {
		t.Errorf("huge output = %v", err)
	}
	if r := callExec(t, c, ExecArgs{Argv: []string{"echo", "still"}}); string(r.Stdout) != "still\n" {
		t.Errorf("after a huge output: %q", r.Stdout)
	}
}

func TestExecEnvAndPath(t *testing.T) {
	c := execClient(t)
	dir := t.TempDir()
	tool := filepath.Join(dir, "labtool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\necho \"$FOO ${HOME-nohome} $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notexec"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + ":/usr/bin:/bin", "FOO=bar"}
	// Found in the given PATH (not the agent's), run with that
	// environment only.
	r := callExec(t, c, ExecArgs{Argv: []string{"labtool", "a b"}, Env: env})
	if r.ExitCode != 0 || string(r.Stdout) != "bar nohome a b\n" {
		t.Errorf("labtool = %q (stderr %q), exit %d", r.Stdout, r.Stderr, r.ExitCode)
	}
	// argv[0] stays the name the caller gave (multi-call programs such
	// as xtables-legacy-multi dispatch on it).
	r = callExec(t, c, ExecArgs{Argv: []string{"cat", "/proc/self/cmdline"}, Env: env})
	if r.ExitCode != 0 || string(r.Stdout) != "cat\x00/proc/self/cmdline\x00" {
		t.Errorf("cmdline = %q, exit %d", r.Stdout, r.ExitCode)
	}
	// sh is in the agent's PATH but not in this one: not found, as a
	// shell or nsenter says.
	r = callExec(t, c, ExecArgs{Argv: []string{"sh", "-c", "true"}, Env: []string{"PATH=" + dir}})
	if r.ExitCode != 127 || !strings.Contains(string(r.Stderr), "failed to execute sh: no such file or directory") {
		t.Errorf("sh outside PATH = exit %d, stderr %q", r.ExitCode, r.Stderr)
	}
	r = callExec(t, c, ExecArgs{Argv: []string{filepath.Join(dir, "missing")}, Env: env})
	if r.ExitCode != 127 {
		t.Errorf("missing path = exit %d, stderr %q", r.ExitCode, r.Stderr)
	}
	r = callExec(t, c, ExecArgs{Argv: []string{filepath.Join(dir, "notexec")}, Env: env})
	if r.ExitCode != 126 || !strings.Contains(string(r.Stderr), "permission denied") {
		t.Errorf("non-executable = exit %d, stderr %q", r.ExitCode, r.Stderr)
	}
	// nil env: the agent's own environment, without the agent marker.
	t.Setenv("LAB_EXEC_TEST", "inherited")
	t.Setenv(EnvAgent, "1")
	r = callExec(t, c, ExecArgs{Argv: []string{"sh", "-c", "echo $LAB_EXEC_TEST ${" + EnvAgent + "-unset}"}})
	if r.ExitCode != 0 || string(r.Stdout) != "inherited unset\n" {
		t.Errorf("nil env = %q, exit %d", r.Stdout, r.ExitCode)
	}
}

// TestExecCancelKillsGroup cancels a call whose command forked a
// background child: the agent kills the command's whole process group and
// answers; the connection stays usable.
func TestExecCancelKillsGroup(t *testing.T) {
	c := execClient(t)
	pidfile := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		script := "sleep 60 & echo $$ $! > " + pidfile + "; wait"
		errc <- c.Call(ctx, OpExec, ExecArgs{Argv: []string{"sh", "-c", script}}, nil)
	}()
	var pids []int
	for deadline := time.Now().Add(10 * time.Second); len(pids) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the command did not write its pids")
		}
		data, _ := os.ReadFile(pidfile)
		if !strings.HasSuffix(string(data), "\n") {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			p, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("pid file %q", data)
			}
			pids = append(pids, p)
		}
	}
	select {
	case err := <-errc:
		t.Fatalf("call ended before cancel: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled call = %v", err)
	}
	for _, p := range pids {
		for deadline := time.Now().Add(5 * time.Second); alive(p); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("process %d still running 5 s after the cancel", p)
				break
			}
		}
	}
	if r := callExec(t, c, ExecArgs{Argv: []string{"echo", "after"}}); string(r.Stdout) != "after\n" {
		t.Errorf("after cancel: %q", r.Stdout)
	}
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
