package runner

import (
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lab/harness/execx"
	"lab/harness/kernel"
	"lab/harness/netns"
)

// StateRoot holds one directory per live run: its owner pid and per-cell
// state. `lab clean` uses it to tell live runs from crashed ones.
const StateRoot = "/run/lab"

// NamespacePrefix starts the name of every namespace the lab creates.
const NamespacePrefix = "lab-"

// Run is one invocation of the lab: an ID, the prefix every resource carries,
// and a state directory marked with the owner's pid.
type Run struct {
	ID     string
	Prefix string
	Dir    string
}

// NewRun creates the state directory of a new run.
func NewRun() (*Run, error) {
	id, err := NewRunID()
	if err != nil {
		return nil, err
	}
	return OpenRun(id)
}

// NewRunID returns a fresh run ID: UTC start time and 6 random hex digits
// (the short part names the run's namespaces, lab-XXXXXX-...).
func NewRunID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// OpenRun creates the state directory of the run with the given ID (a new
// one, or one being resumed after its owner died).
func OpenRun(id string) (*Run, error) {
	short := shortID(id)
	if short == "" {
		return nil, fmt.Errorf("bad run id %q", id)
	}
	r := &Run{ID: id, Prefix: NamespacePrefix + short}
	r.Dir = filepath.Join(StateRoot, short)
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create run state %s: %w", r.Dir, err)
	}
	self := os.Getpid()
	if err := os.WriteFile(filepath.Join(r.Dir, "owner"), []byte(fmt.Sprintf("%d %s", self, startTime(self))), 0o644); err != nil {
		return nil, fmt.Errorf("create run state: %w", err)
	}
	return r, nil
}

// shortID is the part of a run ID after its last "-" ("" if none).
func shortID(id string) string {
	i := strings.LastIndex(id, "-")
	if i < 0 || i == len(id)-1 {
		return ""
	}
	return id[i+1:]
}

// Prefix returns the namespace prefix of the run with the given ID
// ("lab-XXXXXX"): every namespace of the run starts with it and a "-".
func Prefix(id string) string { return NamespacePrefix + shortID(id) }

// Close removes the run's state directory, and /run/lab itself when no
// other run or kept cell uses it.
func (r *Run) Close() error {
	err := os.RemoveAll(r.Dir)
	_ = os.Remove(StateRoot) // fails, as it should, while not empty
	return err
}

// startTime returns a process's start time from /proc/PID/stat (field 22)
// and "" when the process is gone or a zombie: with the pid it identifies a
// process even after pid reuse.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return ""
	}
	return f[19]
}

// alive reports whether the process that owns the run in dir still runs.
func alive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return false
	}
	st := startTime(pid)
	return st != "" && st == f[1]
}

// Clean removes what crashed runs left: their namespaces (killing processes
// inside) and state directories. Runs whose owner still lives are left alone
// unless all is set. It returns what it removed.
func Clean(ctx context.Context, all bool) ([]string, error) {
	live := map[string]bool{}
	kept, _ := filepath.Glob(filepath.Join(KeptDir, "*"))
	var removed []string
	var errs []error
	for _, d := range kept {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "kept cell "+filepath.Base(d))
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(StateRoot, "*"))
	for _, d := range dirs {
		short := filepath.Base(d)
		if d == KeptDir {
			continue
		}
		if !all && alive(d) {
			live[short] = true
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, d)
		}
	}
	_ = os.Remove(KeptDir) // only when empty
	_ = os.Remove(StateRoot)
	names, err := netns.List(NamespacePrefix)
	if err != nil {
		return removed, err
	}
	for _, n := range names {
		short, _, _ := strings.Cut(strings.TrimPrefix(n, NamespacePrefix), "-")
		if live[short] || !isShortID(short) {
			continue // a live run's, or not a run's (tests name theirs lab-ktest-...)
		}
		if err := netns.Delete(ctx, n); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "netns "+n)
		}
	}
	return removed, errors.Join(errs...)
}

// Describe records the host facts every cell of the run shares: kernel
// release, iptables and nft versions, CNI plugin module version.
func Describe(ctx context.Context, pluginDir string) map[string]string {
	env := map[string]string{}
	env["kernel"] = kernel.Release()
	for key, argv := range map[string][]string{
		"iptables_legacy": {"iptables-legacy", "-V"},
		"iptables_nft":    {"iptables-nft", "-V"},
		"nft":             {"nft", "-v"},
		"firewalld":       {"firewalld", "--version"},
		"iproute2":        {"ip", "-V"},
	} {
		if out, err := execx.Output(ctx, execx.Host{}, argv...); err == nil {
			env[key] = strings.TrimSpace(out)
		}
	}
	if bi, err := buildinfo.ReadFile(filepath.Join(pluginDir, "portmap")); err == nil {
		env["cni_plugins"] = bi.Main.Path + " " + bi.Main.Version
	}
	return env
}

// isShortID reports whether s looks like a run's short ID (6 hex digits).
func isShortID(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// DeadRun reports whether a resource named like a run's (lab-XXXXXX-...)
// belongs to a run whose owner is gone (no state directory, or a dead
// owner); names not like a run's are never dead runs'.
func DeadRun(name string) bool {
	short, _, _ := strings.Cut(strings.TrimPrefix(name, NamespacePrefix), "-")
	if !strings.HasPrefix(name, NamespacePrefix) || !isShortID(short) {
		return false
	}
	return !alive(filepath.Join(StateRoot, short))
}
