package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lab/harness/execx"
	"lab/harness/kubeproxy"
)

// CanaryInterval is how often the sim's kube-proxy checks its canary chain.
// Real kube-proxy checks every syncPeriod (30 s by default); the sim checks
// faster so a cell does not wait half a minute for the re-sync after a
// firewalld reload. Steps that observe the window before the re-sync pause
// the monitor instead of racing it (KubeProxy.Pause).
const CanaryInterval = 200 * time.Millisecond

// KubeProxy is a node's long-running kube-proxy for one IP family: it
// programs the Services with harness/kubeproxy (the real iptables-restore of
// the node's variant) and, like the real one, watches its canary chain and
// re-syncs everything when something (firewalld's start or reload) flushed
// the tables.
type KubeProxy struct {
	*kubeproxy.Proxy
	restores atomic.Int64 // iptables-restore runs: one per sync

	mu     sync.Mutex
	paused bool
}

// countingRunner counts the syncs a Proxy starts (each begins with one
// iptables-restore).
type countingRunner struct {
	execx.Runner
	restores *atomic.Int64
}

// Run counts iptables-restore runs and runs c.
func (r countingRunner) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	if len(c.Argv) > 0 && strings.HasSuffix(c.Argv[0], "tables-restore") {
		r.restores.Add(1)
	}
	return r.Runner.Run(ctx, c)
}

// RunKubeProxy starts kube-proxy on the node for the IPv4 Services: one
// sync, then the canary monitor, stopped by Cluster.Close. A second call
// replaces the Services and syncs again.
func (n *Node) RunKubeProxy(ctx context.Context, cfg kubeproxy.Config, svcs []kubeproxy.Service) (*KubeProxy, error) {
	c := n.cluster
	c.mu.Lock()
	k, running := c.proxies[n.Name()]
	if !running {
		k = &KubeProxy{}
		k.Proxy = &kubeproxy.Proxy{Runner: countingRunner{Runner: n, restores: &k.restores}, Config: cfg}
		c.proxies[n.Name()] = k
	}
	c.mu.Unlock()
	if running {
		k.Config = cfg
		if err := k.SetServices(ctx, svcs); err != nil {
			return k, fmt.Errorf("kube-proxy on %s: %w", n.Name(), err)
		}
		return k, nil
	}
	n.cluster.OnClose(k.Stop)
	if err := k.SetServices(ctx, svcs); err != nil {
		return k, fmt.Errorf("kube-proxy on %s: %w", n.Name(), err)
	}
	k.Watch(CanaryInterval)
	return k, nil
}

// KubeProxy returns the node's kube-proxy, if RunKubeProxy started one.
func (n *Node) KubeProxy() (*KubeProxy, bool) {
	n.cluster.mu.Lock()
	defer n.cluster.mu.Unlock()
	k, ok := n.cluster.proxies[n.Name()]
	return k, ok
}

// Restores returns how many syncs kube-proxy has started.
func (k *KubeProxy) Restores() int64 { return k.restores.Load() }

// Pause stops the canary monitor until Resume: the window between a flush
// and kube-proxy noticing it (up to syncPeriod in a real cluster) stays
// open for as long as a step needs to observe it.
func (k *KubeProxy) Pause() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.paused {
		k.Proxy.Stop()
		k.paused = true
	}
}

// Resume restarts the monitor if paused and waits until the canary exists
// again (kube-proxy re-synced after a flush). It returns how long it waited.
func (k *KubeProxy) Resume(ctx context.Context) (time.Duration, error) {
	k.mu.Lock()
	if k.paused {
		k.Watch(CanaryInterval)
		k.paused = false
	}
	k.mu.Unlock()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := k.WaitSynced(wctx); err != nil {
		return time.Since(start), err
	}
	return time.Since(start), nil
}

// Stop ends the canary monitor.
func (k *KubeProxy) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Proxy.Stop()
}
