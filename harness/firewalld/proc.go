package firewalld

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"lab/harness/execx"
	"lab/harness/netns"
)

// StartProcess starts argv inside the network namespace at nsPath (see
// netns.Start) with env as its whole environment and output appended to
// logPath.
func StartProcess(nsPath string, argv, env []string, logPath string) (*execx.Process, error) {
	return netns.Start(nsPath, execx.Cmd{Argv: argv, Env: env}, logPath)
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
