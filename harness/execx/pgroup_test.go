package execx

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCommandsRunInTheirOwnProcessGroup is the regression test of row 6
// of issue 13: a Ctrl-C to lab's process group must not reach a command
// (teardown's `ip netns delete` included), so every command leads a
// process group of its own.
func TestCommandsRunInTheirOwnProcessGroup(t *testing.T) {
	out, err := Output(context.Background(), Host{}, "sh", "-c", "echo $$ $(ps -o pgid= -p $$)")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		t.Fatalf("output %q", out)
	}
	if f[0] != f[1] {
		t.Errorf("command pid %s runs in process group %s, want its own", f[0], f[1])
	}
	if self, _ := syscall.Getpgid(os.Getpid()); strconv.Itoa(self) == f[1] {
		t.Errorf("command shares lab's process group %d", self)
	}
}

// TestCancelKillsTheGroup: cancelling a command kills its whole group, so
// a shell's children do not outlive it.
func TestCancelKillsTheGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Host{}.Run(ctx, Cmd{Argv: []string{"sh", "-c", "sleep 30 & sleep 30; wait"}})
	if err == nil {
		t.Fatal("cancelled command succeeded")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("cancel took %s: the group's children kept the command alive", el)
	}
}
