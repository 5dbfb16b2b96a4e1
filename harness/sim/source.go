package sim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"lab/harness/agent"
	"lab/harness/node"
	"lab/harness/probe"
)

// Source is where a probe is sent from: a host of the cell, or a pod on a
// node (then the probe runs in the pod's namespace through the node's
// agent). It implements gateway.Client.
type Source struct {
	// Host is the host (or the pod's node).
	Host *Node
	// Pod is the pod's namespace inside Host, "" for the host itself.
	Pod string
	// Name is the source's name in the feature.
	Name string
}

// Source returns the host or pod named name.
func (c *Cluster) Source(name string) (Source, error) {
	if p, ok := c.RoutedPod(name); ok {
		return Source{Host: p.Node, Pod: p.NS, Name: name}, nil
	}
	if h, ok := c.Host(name); ok {
		return Source{Host: h, Name: name}, nil
	}
	for _, n := range c.Hosts() {
		for _, p := range n.Pods() {
			if p.Name == name {
				return Source{Host: n, Pod: p.ns, Name: name}, nil
			}
		}
	}
	return Source{}, fmt.Errorf("no pod or host %q in this scenario", name)
}

// HTTP sends one GET from the source and classifies the outcome.
func (s Source) HTTP(ctx context.Context, url string, timeout time.Duration) probe.Result {
	var r probe.Result
	if err := s.Host.Call(ctx, agent.OpHTTP, agent.HTTPArgs{From: s.Pod, URL: url, Timeout: timeout}, &r); err != nil {
		return probe.Result{Outcome: "error", Detail: err.Error()}
	}
	return r
}

// Dial opens one TCP connection from the source and closes it.
func (s Source) Dial(ctx context.Context, addr string, timeout time.Duration) error {
	var r agent.DialResult
	if err := s.Host.Call(ctx, agent.OpDial, agent.DialArgs{From: s.Pod, Addr: addr, Timeout: timeout}, &r); err != nil {
		return err
	}
	if r.Outcome != "connected" {
		return errors.New(r.Outcome + ": " + r.Detail)
	}
	return nil
}

// Batch sends n GETs from the source on fresh connections.
func (s Source) Batch(ctx context.Context, url string, n, concurrency int, timeout time.Duration) (probe.Batch, error) {
	var b probe.Batch
	err := s.Host.Call(ctx, agent.OpBatch, agent.BatchArgs{From: s.Pod, URL: url, N: n, Concurrency: concurrency, Timeout: timeout}, &b)
	return b, err
}

// BatchDecided is Batch that also forwards decisions (see probe.Decision)
// to the running batch in the agent until it ends.
func (s Source) BatchDecided(ctx context.Context, url string, n, concurrency int, timeout time.Duration, decisions <-chan probe.Decision) (probe.Batch, error) {
	return s.decided(ctx, decisions, func(key string) (string, any) {
		return agent.OpBatch, agent.BatchArgs{From: s.Pod, URL: url, N: n, Concurrency: concurrency, Timeout: timeout, Key: key}
	})
}

// UDPBatchDecided is UDPBatch that also forwards decisions to the running
// batch in the agent until it ends.
func (s Source) UDPBatchDecided(ctx context.Context, addr string, n, concurrency int, timeout time.Duration, decisions <-chan probe.Decision) (probe.Batch, error) {
	return s.decided(ctx, decisions, func(key string) (string, any) {
		return agent.OpUDPBatch, agent.UDPBatchArgs{From: s.Pod, Addr: addr, N: n, Concurrency: concurrency, Timeout: timeout, Key: key}
	})
}

// decided runs the batch call (op and args for a fresh key) and forwards
// decisions to it (OpDecide) until it returns.
func (s Source) decided(ctx context.Context, decisions <-chan probe.Decision, call func(key string) (string, any)) (probe.Batch, error) {
	key := newContainerID()[:16]
	op, args := call(key)
	done := make(chan struct{})
	var b probe.Batch
	var err error
	go func() {
		defer close(done)
		err = s.Host.Call(ctx, op, args, &b)
	}()
	for {
		select {
		case <-done:
			return b, err
		case d := <-decisions:
			if derr := s.Host.Call(ctx, agent.OpDecide, agent.DecideArgs{Key: key, Decision: d}, nil); derr != nil {
				<-done
				return b, derr
			}
		}
	}
}

// ReadFile reads a file (a /proc/sys entry) as the source sees it.
func (s Source) ReadFile(ctx context.Context, path string) (string, error) {
	var out string
	err := s.Host.Call(ctx, agent.OpReadFile, agent.ReadFileArgs{Pod: s.Pod, Path: path}, &out)
	return strings.TrimSpace(out), err
}

// TraceTCP connects from a pod on the node to dst while nftables traces the
// SYN through the node's ruleset (in the node's agent).
func (n *Node) TraceTCP(ctx context.Context, from *RoutedPod, src netip.Addr, dst netip.AddrPort) (agent.Trace, error) {
	if from.Node != n {
		return agent.Trace{}, fmt.Errorf("trace on %s: pod %s runs on %s; trace on its own node", n.Name(), from.Name, from.Node.Name())
	}
	var tr agent.Trace
	err := n.Call(ctx, agent.OpTrace, agent.TraceArgs{From: from.NS, Src: src, Dst: dst}, &tr)
	return tr, err
}

// Facts reads, inside every host of the cell, what really runs there.
func (c *Cluster) Facts(ctx context.Context) map[string]agent.Facts {
	out := map[string]agent.Facts{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range c.Hosts() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f agent.Facts
			if h.Agent == nil {
				f = agent.Facts{"error": "the agent did not start"}
			} else if err := h.Call(ctx, agent.OpFacts, agent.FactsArgs{Programs: h.Role == RoleNode}, &f); err != nil {
				f = agent.Facts{"error": err.Error()}
			}
			f["role"] = string(h.Role)
			if d, ok := h.Node.(node.Describer); ok {
				for k, v := range d.Describe() {
					f[k] = v
				}
			}
			if h.Role == RoleNode {
				f["pod_network"] = h.podNetwork()
				for k, v := range h.networkFacts(ctx) {
					f[k] = v
				}
				h.pushMu.Lock()
				if h.kubeProxyFact != "" {
					f["kube_proxy"] = h.kubeProxyFact
				}
				h.pushMu.Unlock()
				h.mu.Lock()
				if h.kubeliteForward != "" {
					f["kubelite_forward_failed"] = h.kubeliteForward
				}
				h.mu.Unlock()
			}
			mu.Lock()
			out[h.Name()] = f
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// podNetwork says which pod network the driver built on a MicroK8s node.
func (n *Node) podNetwork() string {
	if r, ok := n.Routed(); ok {
		var pools []string
		for _, p := range r.CIDRs {
			pools = append(pools, p.String())
		}
		return "calico-style routed (cali* veths, proxy ARP), pools " + strings.Join(pools, ",")
	}
	cni := n.cluster.prof.CNI
	mtu := ""
	if cni.MTU > 0 {
		mtu = fmt.Sprintf(", MTU %d", cni.MTU)
	}
	return fmt.Sprintf("bridge + host-local + portmap (conflist %s, subnet %s, hairpinMode %v%s)", cni.Network, n.podSubnet, cni.Hairpin(), mtu)
}
