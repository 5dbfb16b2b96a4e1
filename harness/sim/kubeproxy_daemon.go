package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"lab/harness/execx"
	"lab/harness/iptables"
	"lab/harness/kubeproxy"
	"lab/harness/timing"
)

// RunKubeProxy starts kube-proxy on the node for cfg's family and waits for
// its first sync, whose error (iptables' own text) it returns. A second
// call rewrites the Services file and waits for the sync that follows.
// Cluster.Close stops it.
func (n *Node) RunKubeProxy(ctx context.Context, cfg kubeproxy.Config, svcs []kubeproxy.Service) (*KubeProxy, error) {
	data, err := kubeproxy.Objects(svcs)
	if err != nil {
		return nil, err
	}
	c := n.cluster
	c.mu.Lock()
	k, running := c.proxies[n.Name()]
	c.mu.Unlock()
	if running {
		return k, k.update(ctx, data)
	}
	version, err := n.pushKubeProxy(ctx)
	if err != nil {
		return nil, err
	}
	file := kubeProxyDir + "/services.json"
	if err := n.writeFile(ctx, data, file); err != nil {
		return nil, err
	}
	started := time.Now()
	k = &KubeProxy{n: n, cfg: cfg, Version: version, log: &syncBuffer{}, changed: make(chan struct{}), objects: data}
	args := append(n.kubeProxyArgs(cfg, file, kubeProxyDir), "--control-stdin")
	st, err := n.Start(ctx, execx.Cmd{Argv: args, Env: n.Env}, k.log)
	if err != nil {
		return nil, fmt.Errorf("start kube-proxy on %s: %w", n.Name(), err)
	}
	k.stream = st
	c.mu.Lock()
	c.proxies[n.Name()] = k
	c.mu.Unlock()
	c.OnClose(k.Stop)
	go k.read(st.Stdout())
	err = k.waitSyncs(ctx, 1, time.Minute)
	c.opts.Timings.Add(timing.Wait, "kube-proxy start to first sync", n.Name(), started)
	if err != nil {
		return k, err
	}
	_, last := k.Syncs()
	return k, last
}

// read consumes the sync lines until the process ends.
func (k *KubeProxy) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l, err := kubeproxy.ParseSyncLine(sc.Bytes())
		if err != nil {
			continue
		}
		k.mu.Lock()
		if l.Applied > 0 {
			k.applied, k.syncsAtApplied = l.Applied, k.syncs
			close(k.changed)
			k.changed = make(chan struct{})
			k.mu.Unlock()
			continue
		}
		k.syncs++
		k.lastErr = nil
		if !l.OK {
			k.failed++
			k.lastErr = errors.New(l.Error)
		}
		close(k.changed)
		k.changed = make(chan struct{})
		k.mu.Unlock()
	}
	err := k.stream.Wait()
	k.mu.Lock()
	k.exited = fmt.Errorf("kube-proxy exited: %v", err)
	close(k.changed)
	k.changed = make(chan struct{})
	k.mu.Unlock()
}

// waitSyncs waits until at least want sync attempts were reported.
func (k *KubeProxy) waitSyncs(ctx context.Context, want int, timeout time.Duration) error {
	return k.waitFor(ctx, timeout, fmt.Sprintf("sync %d", want), func() bool { return k.syncs >= want })
}

// waitFor waits until done (called with k.mu held) holds.
func (k *KubeProxy) waitFor(ctx context.Context, timeout time.Duration, what string, done func() bool) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		k.mu.Lock()
		ok, n, exited, ch := done(), k.syncs, k.exited, k.changed
		k.mu.Unlock()
		switch {
		case ok:
			return nil
		case exited != nil:
			return fmt.Errorf("kube-proxy on %s: %w; its log:\n%s", k.n.Name(), exited, tail(k.log.String(), 20))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("kube-proxy on %s: no %s within %s (%d syncs so far)", k.n.Name(), what, timeout, n)
		}
	}
}

func tail(s string, lines int) string {
	l := bytes.Split([]byte(s), []byte("\n"))
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return string(bytes.Join(l, []byte("\n")))
}

// update rewrites the Services file and tells kube-proxy to reload it
// ("reload" on its control stdin): it hands the changes to the Proxier
// between syncs and prints an applied line; the (partial) sync that follows
// is the first that includes them, which this waits for. Identical Services
// sync nothing.
func (k *KubeProxy) update(ctx context.Context, data []byte) error {
	k.mu.Lock()
	same := bytes.Equal(data, k.objects)
	reloads := k.applied
	k.objects = data
	k.mu.Unlock()
	if same {
		return nil
	}
	if err := k.n.writeFile(ctx, data, kubeProxyDir+"/services.json"); err != nil {
		return err
	}
	if _, err := io.WriteString(k.stream.Stdin(), "reload\n"); err != nil {
		return fmt.Errorf("kube-proxy on %s: reload: %w", k.n.Name(), err)
	}
	started := time.Now()
	if err := k.waitFor(ctx, time.Minute, "the reload", func() bool { return k.applied > reloads }); err != nil {
		return err
	}
	k.mu.Lock()
	before := k.syncsAtApplied
	k.mu.Unlock()
	err := k.waitSyncs(ctx, before+1, time.Minute)
	k.n.cluster.opts.Timings.Add(timing.Wait, "kube-proxy resync", k.n.Name(), started)
	if err != nil {
		return err
	}
	_, last := k.Syncs()
	return last
}

// KubeProxy returns the node's kube-proxy, if RunKubeProxy started one.
func (n *Node) KubeProxy() (*KubeProxy, bool) {
	n.cluster.mu.Lock()
	defer n.cluster.mu.Unlock()
	k, ok := n.cluster.proxies[n.Name()]
	return k, ok
}

// Restores returns how many sync attempts kube-proxy reported (each ends
// in its iptables-restore, or earlier when a jump rule fails).
func (k *KubeProxy) Restores() int64 {
	n, _ := k.Syncs()
	return int64(n)
}

// Syncs returns how many sync attempts kube-proxy reported and the last
// one's error.
func (k *KubeProxy) Syncs() (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.syncs, k.lastErr
}

// Release returns the Kubernetes release of the running kube-proxy.
func (k *KubeProxy) Release() string { return k.Version }

// Log returns kube-proxy's klog output so far.
func (k *KubeProxy) Log() string { return k.log.String() }

// Pause holds kube-proxy's reaction to a flush its canary monitor detects
// (a line on its stdin): the window between a flush and the re-sync, up to
// the sync period in a real cluster, stays open as long as a step needs.
func (k *KubeProxy) Pause() {
	_, _ = io.WriteString(k.stream.Stdin(), "pause\n")
}

// Resume lets kube-proxy react again and waits until its canary chain is
// back in the nat table, which its monitor re-creates after the re-sync
// (within the 30 s sync period it polls with). It returns how long it took.
func (k *KubeProxy) Resume(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := io.WriteString(k.stream.Stdin(), "resume\n"); err != nil {
		return 0, fmt.Errorf("kube-proxy on %s: %w", k.n.Name(), err)
	}
	deadline := time.Now().Add(ResyncTimeout)
	for {
		if k.CanaryPresent(ctx) {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("kube-proxy on %s did not re-sync within %s", k.n.Name(), ResyncTimeout)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// CanaryPresent reports whether kube-proxy's canary chain is in the nat
// table of its family (of the profile's iptables variant).
func (k *KubeProxy) CanaryPresent(ctx context.Context) bool {
	cmd := "iptables"
	if k.cfg.Family() == "ipv6" {
		cmd = "ip6tables"
	}
	cmd = iptables.Binary(cmd, k.n.cluster.prof.Iptables.Mode)
	_, err := k.n.Run(ctx, execx.Cmd{Argv: []string{cmd, "-w", "-t", "nat", "-S", kubeproxy.CanaryChain}})
	return err == nil
}

// Stop ends kube-proxy: the end of its stdin makes it exit (its process
// group is killed if it does not).
func (k *KubeProxy) Stop() {
	_ = k.stream.Kill()
}
