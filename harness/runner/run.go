package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"lab/harness/agent"
	"lab/harness/execx"
	"lab/harness/kernel"
	"lab/harness/provider"
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
	_ = os.Remove(filepath.Dir(r.Dir)) // StateRoot; fails, as it should, while not empty
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
	// the built plugin versions (bin/cni/VERSION/); each cell's node says
	// which one it ran
	dirs, _ := filepath.Glob(filepath.Join(pluginDir, "*", "portmap"))
	var built []string
	for _, d := range dirs {
		if v := agent.PluginVersion(d); v != "" {
			built = append(built, v)
		}
	}
	if len(built) > 0 {
		env["cni_plugins"] = "github.com/containernetworking/plugins " + strings.Join(built, ", ")
	}
	return env
}

// cellOf finds the cell prefixes (lab-XXXXXX-N) named in a provider's
// leftovers, and the run-wide resources (lab-XXXXXX-base: LXD's prepared
// bases of the run's images).
var cellOf = regexp.MustCompile(`\blab-([0-9a-f]{6})-(\d+|base)\b`)

// cleanProvider removes, through the provider, what dead runs left there:
// every cell prefix of a run that is not live, except kept cells'.
func cleanProvider(ctx context.Context, p provider.Provider, live, protect map[string]bool) ([]string, error) {
	if p.Check(ctx) != nil {
		return nil, nil // not running here: nothing of it to clean
	}
	left, err := p.Leftovers(ctx, NamespacePrefix)
	if err != nil {
		return nil, err
	}
	dead := map[string][]string{} // cell prefix -> items
	for _, l := range left {
		for _, m := range cellOf.FindAllStringSubmatch(l, -1) {
			cell := NamespacePrefix + m[1] + "-" + m[2]
			if !live[m[1]] && !protect[cell] {
				dead[cell] = append(dead[cell], l)
			}
		}
	}
	var removed []string
	var errs []error
	for _, cell := range sortedKeys(dead) {
		if err := p.Remove(ctx, cell+"-"); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, it := range dead[cell] {
			removed = append(removed, p.Name()+" "+it)
		}
	}
	return removed, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
