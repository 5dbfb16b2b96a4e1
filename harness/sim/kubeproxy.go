package sim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"lab/harness/agent"
	"lab/harness/execx"
	"lab/harness/kubeproxy"
	"lab/harness/node"
)

// Where kube-proxy lives inside a node.
const (
	kubeProxyBin = agent.Dir + "/kube-proxy"
	kubeProxyDir = agent.Dir + "/kube-proxy.d"
)

// ResyncTimeout bounds the wait for kube-proxy's canary monitor to notice a
// flush and re-sync: it polls every sync period (30 s, MicroK8s sets none),
// plus the sync itself on a loaded machine.
const ResyncTimeout = 3 * time.Minute

// KubeProxy is a node's long-running kube-proxy: Kubernetes' own iptables
// Proxier of the profile's Kubernetes release (harness/kubeproxy/k8s-v*),
// running inside the node with the node's environment (the profile's
// iptables variant first in PATH, a kernel profile's hidden extensions),
// fed the Services from a file it re-reads when it changes. Its canary
// monitor, sync period, retries and errors are the real ones.
type KubeProxy struct {
	n       *Node
	cfg     kubeproxy.Config
	Version string
	stream  node.Stream
	log     *syncBuffer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every sync line
	syncs   int
	failed  int
	// applied counts kube-proxy's applied lines (reloads handed over);
	// syncsAtApplied is the sync count when the last one was read.
	applied, syncsAtApplied int
	lastErr                 error
	objects                 []byte
	exited                  error
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pushKubeProxy copies the profile's kube-proxy binary into the node, once.
func (n *Node) pushKubeProxy(ctx context.Context) (string, error) {
	c := n.cluster
	version := c.prof.MicroK8s.Kubernetes
	bin, err := kubeproxy.Binary(c.opts.KubeProxyDir, version)
	if err != nil {
		return "", fmt.Errorf("profile %s: %w", c.prof.Name, err)
	}
	n.pushMu.Lock()
	defer n.pushMu.Unlock()
	if n.kubeProxyPushed {
		return version, nil
	}
	if err := n.CopyIn(ctx, bin, kubeProxyBin, 0o755); err != nil {
		return "", err
	}
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"mkdir", "-p", kubeProxyDir}}); err != nil {
		return "", err
	}
	n.kubeProxyPushed = true
	mode, args := c.proxyMode()
	flags := ""
	if len(args) > 0 {
		flags = ", " + strings.Join(args, " ")
	}
	n.kubeProxyFact = version + " (Kubernetes' " + mode + " Proxier" + flags + ", " + filepath.Join(c.opts.KubeProxyDir, version, kubeproxy.BinaryName) + ", sha256 " + fileSum(bin) + ")"
	return version, nil
}

// proxyMode returns the profile's kube-proxy mode and the flags its
// Kubernetes release needs for it (kubeproxy.ModeArgs; Load checked them).
func (c *Cluster) proxyMode() (string, []string) {
	mode := c.prof.KubeProxy.Mode
	if mode == "" {
		mode = kubeproxy.ModeIPTables
	}
	args, _ := kubeproxy.ModeArgs(mode, c.prof.MicroK8s.Kubernetes)
	return mode, args
}

// NFTablesMode reports whether kube-proxy runs its nftables Proxier here
// (the profile's kube_proxy.mode): its rules are then table ip kube-proxy
// (ip6 kube-proxy), not iptables chains.
func (c *Cluster) NFTablesMode() bool {
	mode, _ := c.proxyMode()
	return mode == kubeproxy.ModeNFTables
}

// fileSums caches fileSum by path, size and modification time: hashing a
// 38 MB kube-proxy binary took 40-80 ms of CPU in every cell that ran it.
var fileSums struct {
	sync.Mutex
	m map[string]string
}

// fileSum is the first 16 hex digits of the file's sha256.
func fileSum(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "unreadable: " + err.Error()
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	fileSums.Lock()
	defer fileSums.Unlock()
	if sum, ok := fileSums.m[key]; ok {
		return sum
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable: " + err.Error()
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	if fileSums.m == nil {
		fileSums.m = map[string]string{}
	}
	fileSums.m[key] = sum
	return sum
}

// writeFile puts data at path inside the node atomically (copy, then
// rename), so kube-proxy never reads half a file.
func (n *Node) writeFile(ctx context.Context, data []byte, path string) error {
	tmp, err := os.CreateTemp(n.cluster.opts.StateDir, "kube-proxy-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := n.CopyIn(ctx, tmp.Name(), path+".tmp", 0o644); err != nil {
		return err
	}
	_, err = n.Run(ctx, execx.Cmd{Argv: []string{"mv", "-f", path + ".tmp", path}})
	return err
}

// flags are kube-proxy's command line for cfg: MicroK8s's own
// (microk8s-resources/default-args/kube-proxy passes --cluster-cidr and no
// sync periods, so kube-proxy's defaults of 30 s and 1 s apply), plus what
// the profile's kube_proxy.mode needs (--proxy-mode nftables, and the
// feature gate where that mode is alpha).
func (n *Node) kubeProxyArgs(cfg kubeproxy.Config, services, dumpDir string) []string {
	_, mode := n.cluster.proxyMode()
	args := []string{kubeProxyBin, "--services", services, "--ip-family", cfg.Family(),
		"--cluster-cidr", cfg.ClusterCIDR.String(), "--hostname-override", n.Name(),
		"--dump-restore", dumpDir, "-v=2"}
	return append(args, mode...)
}

// KubeProxyOnce runs kube-proxy on the node for one sync of cfg's family,
// as the daemon's start does, and returns its outcome.
func (n *Node) KubeProxyOnce(ctx context.Context, cfg kubeproxy.Config, svcs []kubeproxy.Service) (kubeproxy.Outcome, error) {
	var out kubeproxy.Outcome
	version, err := n.pushKubeProxy(ctx)
	if err != nil {
		return out, err
	}
	out.Version = version
	data, err := kubeproxy.Objects(svcs)
	if err != nil {
		return out, err
	}
	file := kubeProxyDir + "/once-" + cfg.Family() + ".json"
	if err := n.writeFile(ctx, data, file); err != nil {
		return out, err
	}
	dump := kubeProxyDir + "/once-" + cfg.Family()
	if _, err := n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", `rm -rf "$1" && mkdir -p "$1"`, "sh", dump}}); err != nil {
		return out, err
	}
	args := append(n.kubeProxyArgs(cfg, file, dump), "--once")
	res, runErr := n.Run(ctx, execx.Cmd{Argv: args})
	out.Log = string(res.Stderr)
	var lines []kubeproxy.SyncLine
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		if l, err := kubeproxy.ParseSyncLine(sc.Bytes()); err == nil {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		if runErr == nil {
			runErr = errors.New("kube-proxy reported no sync")
		}
		return out, fmt.Errorf("kube-proxy %s on %s: %w", version, n.Name(), runErr)
	}
	if !lines[0].OK {
		out.Err = errors.New(lines[0].Error)
	}
	fam := map[string]string{"ipv4": "IPv4", "ipv6": "IPv6"}[cfg.Family()]
	input := "/restore-"
	if n.cluster.NFTablesMode() {
		input = "/nft-"
	}
	if r, err := n.Run(ctx, execx.Cmd{Argv: []string{"cat", dump + input + fam}}); err == nil {
		out.Restore = string(r.Stdout)
	}
	return out, nil
}
